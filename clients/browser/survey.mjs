// Drives the buyer survey page in headless Chromium at phone width, the way a buyer does:
// open the link, pick 2 stars and a reason, type a comment in Chinese, send; then the same
// link again (used) and an expired link. Every page is checked with axe-core (WCAG 2.x A
// and AA: no violation allowed), for Content-Security-Policy violations (none allowed) and
// for its own stylesheet being applied; screenshots go to SCREENSHOT_DIR.
//
// Environment: SURVEY_URL (a pending survey), EXPIRED_URL (an expired one),
// SCREENSHOT_DIR (optional), CHROMIUM (default /usr/bin/chromium).
// Prints one JSON line with what it saw; exits non-zero on the first failure.
// Run by tests/processes/survey_browser.rs (through run.sh, which installs the locked
// playwright-core and axe-core).

import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { chromium } from "playwright-core";

const require = createRequire(import.meta.url);
const axeSource = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");

const surveyUrl = process.env.SURVEY_URL;
const expiredUrl = process.env.EXPIRED_URL;
const shots = process.env.SCREENSHOT_DIR;
const comment = "处理太慢了，等了三天才有人回复";

function check(condition, message) {
  if (!condition) {
    throw new Error(message);
  }
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-dev-shm-usage"],
});
const seen = { pages: [] };
try {
  const context = await browser.newContext({
    viewport: { width: 390, height: 844 },
    deviceScaleFactor: 2,
    isMobile: true,
    hasTouch: true,
    locale: "zh-CN",
  });
  const page = await context.newPage();
  const cspViolations = [];
  page.on("console", (message) => {
    if (/Content[- ]Security[- ]Policy/i.test(message.text())) {
      cspViolations.push(message.text());
    }
  });
  page.on("pageerror", (error) => cspViolations.push(String(error)));

  // Axe runs in the page through the DevTools protocol (not a script tag, which the
  // page's CSP refuses, as it should).
  async function audit(name, expectedStatus, response, shot) {
    check(
      response.status() === expectedStatus,
      `${name}: status ${response.status()}, expected ${expectedStatus}`,
    );
    const styled = await page.evaluate(
      () => getComputedStyle(document.body).backgroundColor,
    );
    check(styled === "rgb(244, 245, 247)", `${name}: the stylesheet is not applied (${styled})`);
    await page.evaluate(axeSource);
    const result = await page.evaluate(() =>
      globalThis.axe.run(document, {
        runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"] },
      }),
    );
    const violations = result.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      nodes: v.nodes.map((n) => n.target.join(" ")),
    }));
    check(violations.length === 0, `${name}: accessibility violations ${JSON.stringify(violations)}`);
    check(cspViolations.length === 0, `${name}: ${cspViolations.join("; ")}`);
    if (shots && shot) {
      await page.screenshot({ path: join(shots, shot), fullPage: true });
    }
    seen.pages.push({ name, status: response.status(), passes: result.passes.length, violations: 0 });
  }

  // The survey: Chinese by default, works without JavaScript (plain form post).
  let response = await page.goto(surveyUrl);
  check((await page.getAttribute("html", "lang")) === "zh-CN", "the page is Chinese by default");
  check(
    (await page.textContent("legend")).includes("满意"),
    "the question is on the page",
  );
  await audit("survey", 200, response, "survey-page.png");

  await page.click("label[for=score-2]");
  await page.click("label[for=reason-speed]");
  await page.fill("#comment", comment);
  check(await page.isChecked("#score-2"), "2 stars picked");
  check(await page.isChecked("#reason-speed"), "reason picked");
  if (shots) {
    await page.screenshot({ path: join(shots, "survey-filled.png"), fullPage: true });
  }
  [response] = await Promise.all([
    page.waitForNavigation(),
    page.click("button[type=submit]"),
  ]);
  const thanks = await page.textContent("h1");
  check(
    thanks.includes("感谢您的评价"),
    `the thank-you page, got ${response && response.status()}: ${thanks}`,
  );
  await audit("thanks", 200, response, "survey-thanks.png");

  // The same link again: used.
  response = await page.goto(surveyUrl);
  check((await page.textContent("h1")).includes("您已经评价过了"), "the used page");
  await audit("used", 410, response, "survey-used.png");

  // An expired link.
  response = await page.goto(expiredUrl);
  check((await page.textContent("h1")).includes("链接已过期"), "the expired page");
  await audit("expired", 410, response, "survey-expired.png");

  // English by the switch, still accessible.
  response = await page.goto(`${expiredUrl}?lang=en`);
  check((await page.getAttribute("html", "lang")) === "en", "English by the switch");
  await audit("expired (English)", 410, response, null);

  seen.comment = comment;
  console.log(JSON.stringify(seen));
} finally {
  await browser.close();
}
