"""az-postgres: the ``postgres`` storage backend (PostgreSQL through peewee and psycopg 3)."""
