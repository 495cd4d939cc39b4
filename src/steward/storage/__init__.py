"""Storage: the only package that imports SQLAlchemy. Models, engine, repositories, migrations."""
