//! `Side`: whose fault a failure is, as operators alert on it and audit records it. A leaf
//! module: the proxy, the upstream client and the read cache's shared failures all say it.

/// Whose fault a failure is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Caller,
    Upstream,
    Internal,
}

impl Side {
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Caller => "caller",
            Side::Upstream => "upstream",
            Side::Internal => "internal",
        }
    }
}
