//! AFL++ entry of the `cookie` target (crates/core/tests/support/targets.rs).

#[allow(dead_code)]
#[path = "../../crates/core/tests/support/mod.rs"]
mod support;

fn main() {
    afl::fuzz!(|data: &[u8]| support::targets::cookie(data));
}
