//! Who is calling: portal sessions (cookies + CSRF) and bearer tokens. Passwords, keys and
//! random tokens are the application layer's (`candor_app::{password, keys, secrets}`).

pub mod extract;
pub mod session;
pub mod token;
