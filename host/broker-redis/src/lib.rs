//! Redis broker and state store: streams with consumer groups, delayed sorted sets, shared registry, global QPS.
