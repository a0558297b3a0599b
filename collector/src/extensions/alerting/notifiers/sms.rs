//! The `sms` notifier (next commit).
