//! The review pages' HTML (maud). Phone first: one column, tables that scroll sideways inside
//! their box, large touch targets; the same pages widen on a desktop.

mod checks;
mod household;
mod layout;
mod login;
mod report;
mod roster;

pub use checks::{checks_page, conflicts_page, spot_page};
pub use household::household_page;
pub use layout::{area_name, error_page, query_string, status_label};
pub use login::login_page;
pub use report::report_page;
pub use roster::roster_page;
