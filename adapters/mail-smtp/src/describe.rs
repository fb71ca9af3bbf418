//! What an SMTP failure is, in words that never quote the server (its reply may quote the
//! message).

/// The class of an SMTP failure, without the server's reply text (it may quote the message).
pub(super) fn describe(error: &lettre::transport::smtp::Error) -> String {
    use std::error::Error as _;
    if error.is_timeout() {
        return "timed out connecting to the SMTP server".to_owned();
    }
    if let Some(code) = error.status() {
        return if error.is_permanent() {
            format!("the SMTP server refused the message ({code}, permanent)")
        } else {
            format!("the SMTP server refused the message for now ({code}, transient)")
        };
    }
    if error.is_tls() {
        return match error.source() {
            Some(source) => format!("TLS with the SMTP server failed: {source}"),
            None => "TLS with the SMTP server failed".to_owned(),
        };
    }
    if error.is_client() {
        // lettre's own fixed texts, e.g. "STARTTLS is not supported on this server".
        return match error.source() {
            Some(source) => format!("SMTP client error: {source}"),
            None => "SMTP client error".to_owned(),
        };
    }
    if error.is_response() {
        return "the SMTP server sent an answer that could not be read".to_owned();
    }
    if error.is_transport_shutdown() {
        return "the SMTP transport has been shut down".to_owned();
    }
    match io_error(error) {
        Some(io) => format!("could not talk to the SMTP server: {io}"),
        None => "could not talk to the SMTP server".to_owned(),
    }
}

fn io_error<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a std::io::Error> {
    let mut current = error.source();
    while let Some(source) = current {
        if let Some(io) = source.downcast_ref::<std::io::Error>() {
            return Some(io);
        }
        current = source.source();
    }
    None
}
