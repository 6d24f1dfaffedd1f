//! AFL++ entry of the `session_file` target (crates/core/tests/support/targets.rs).

#[allow(dead_code)]
#[path = "../../crates/core/tests/support/mod.rs"]
mod support;

fn main() {
    afl::fuzz!(|data: &[u8]| support::targets::session_file(data));
}
