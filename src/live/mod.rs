//! The live traffic view: a sliding window over the last minutes of requests (rates, status
//! classes, distinct clients, top URLs) fed by the `live` output and sent once a second to
//! the browser page and `logpipe top`.

pub mod distinct;
pub mod frame;
pub mod request;
pub mod window;
