from services import Database


def test_postgres_scratch_database_is_usable(postgres_db: Database) -> None:
    import psycopg

    with psycopg.connect(
        host=postgres_db.host, port=postgres_db.port, user=postgres_db.user, dbname=postgres_db.name
    ) as conn:
        assert conn.execute("select current_database()").fetchone() == (postgres_db.name,)


def test_mariadb_scratch_database_is_usable(mariadb_db: Database) -> None:
    import pymysql

    conn = pymysql.connect(
        host=mariadb_db.host, port=mariadb_db.port, user=mariadb_db.user, database=mariadb_db.name
    )
    with conn.cursor() as cursor:
        cursor.execute("select database()")
        assert cursor.fetchone() == (mariadb_db.name,)
    conn.close()


def test_redis_answers(redis_url: str) -> None:
    import redis

    assert redis.Redis.from_url(redis_url).ping() is True
