//! labs entry.
fn main() {}
