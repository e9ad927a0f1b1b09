-- Usage across all keys by time (the overview of the admin page).
CREATE INDEX usage_minute ON usage (minute);
