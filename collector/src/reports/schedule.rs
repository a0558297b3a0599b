//! Scheduled reports: placeholder.
