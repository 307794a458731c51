//! Issue 11: nobody but the operator commands a host. One module per part.

mod auth;
