//! bloom: placeholder until its issue lands.
