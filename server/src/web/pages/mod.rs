//! The review pages' HTML (maud). Phone first: one column, tables that scroll sideways inside
//! their box, large touch targets; the same pages widen on a desktop.

mod checks;
mod evidence;
mod history;
mod household;
mod layout;
mod login;
mod report;
mod roster;

pub use checks::{checks_page, conflicts_page, spot_page, spot_reason, spot_result_label};
pub use history::{History, HistoryAsk};
pub use household::{HouseholdView, Refused, household_page};
pub use layout::{area_name, error_page, query_string, status_label};
pub use login::login_page;
pub use report::report_page;
pub use roster::{RosterSort, RosterView, roster_page, sort_roster};
