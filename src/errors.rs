use napi::{Error, Status};
use sessionkeeper_core::Error as CoreError;

/// The one place where engine errors become JavaScript errors. Messages are for people: the
/// facade validates input first, so these only surface on broken invariants or OS failures.
pub(crate) fn map_error(error: CoreError) -> Error {
    let status = match error {
        CoreError::InvalidConfig(_) => Status::InvalidArg,
        _ => Status::GenericFailure,
    };
    Error::new(status, error.to_string())
}
