//! The store conformance suite against SQLite (a file), PostgreSQL and MariaDB (the real
//! servers, over TCP), plus what only a SQL store has: migrations, the NextAuth v3 interop
//! fixture, collations, error hygiene, and the rate limiter on each database.
//!
//! One test binary on purpose (link time). Every server test gets its own database,
//! `portcullis_t_<unix seconds>_<random>`, created on the server and dropped when the test's
//! store is dropped (also when the test fails); databases left by a killed run are swept
//! at the next run once they are an hour old. Servers: `PORTCULLIS_TEST_POSTGRES_URL`
//! (default `postgres://postgres@127.0.0.1:5432/postgres`) and `PORTCULLIS_TEST_MYSQL_URL`
//! (default `mysql://root@127.0.0.1:3306/test`). An unreachable server fails the tests:
//! `bash .ci/services` starts both.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod outbox;
mod rate_limit;
mod sql;
mod support;
mod v3_interop;

mod sqlite {
    portcullis_store_conformance::store_conformance_tests!(async {
        crate::support::fresh(None).await
    });
}

mod postgres {
    portcullis_store_conformance::store_conformance_tests!(async {
        crate::support::fresh(Some(crate::support::Server::Postgres)).await
    });
}

mod mariadb {
    portcullis_store_conformance::store_conformance_tests!(async {
        crate::support::fresh(Some(crate::support::Server::MySql)).await
    });
}
