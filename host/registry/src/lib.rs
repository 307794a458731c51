//! Content-addressed module store, versions, queue -> module bindings.
