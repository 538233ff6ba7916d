//! The field client's web UI and the review logins: Host, CSRF, cookies.
