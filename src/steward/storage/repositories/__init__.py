"""One repository per aggregate; the rest of Steward talks to the database only through these."""
