//! Fuzz the command parser: never panic; canonical text parses back to the same
//! command; the credential check agrees with what is stored.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let stored = deckhand_commands::without_credentials(text);
    match deckhand_commands::parse(text) {
        Ok(command) => {
            let canonical = command.to_string();
            assert_eq!(deckhand_commands::parse(&canonical).as_ref(), Ok(&command), "{canonical:?}");
            // An accepted command is stored as typed, and nothing it keeps looks like a key.
            assert_eq!(stored, text);
            assert!(command.texts().into_iter().all(|t| deckhand_commands::credential_in(t).is_none()));
        }
        Err(error) => {
            let _ = error.render();
            // What is stored of a refused line never parses into a command that runs.
            assert!(deckhand_commands::parse(&stored).is_err(), "{stored:?}");
            assert!(deckhand_commands::credential_in(&stored).is_none() || stored.contains("[credential]"));
        }
    }
});
