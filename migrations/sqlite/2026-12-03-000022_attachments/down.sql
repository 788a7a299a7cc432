DROP TABLE attachment_blobs;
DROP TABLE attachments;
