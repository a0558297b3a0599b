//! Lookout SDK (work in progress; see issue 6).
