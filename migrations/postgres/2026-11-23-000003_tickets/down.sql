DROP TABLE ticket_events;
DROP TABLE ticket_contacts;
DROP TABLE tickets;
