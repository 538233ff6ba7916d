//! One story, two databases: the tests that run a story on SQLite and on PostgreSQL.

/// Declares the tests `story::on_sqlite` and `story::on_postgres`, each running
/// `async fn story(db: TestDb)` (a private function of the calling module) on a fresh database
/// of its kind. Two worker threads unless told `worker_threads = N`, or `current_thread`.
#[macro_export]
macro_rules! on_both_databases {
    ($story:ident) => {
        $crate::on_both_databases!(@runtime $story, (flavor = "multi_thread", worker_threads = 2));
    };
    ($story:ident, worker_threads = $threads:literal) => {
        $crate::on_both_databases!(
            @runtime $story, (flavor = "multi_thread", worker_threads = $threads)
        );
    };
    ($story:ident, current_thread) => {
        $crate::on_both_databases!(@runtime $story, (flavor = "current_thread"));
    };
    (@runtime $story:ident, ($($runtime:tt)*)) => {
        mod $story {
            #[tokio::test($($runtime)*)]
            async fn on_sqlite() {
                super::$story($crate::TestDb::sqlite()).await;
            }

            #[tokio::test($($runtime)*)]
            async fn on_postgres() {
                super::$story($crate::TestDb::postgres()).await;
            }
        }
    };
}
