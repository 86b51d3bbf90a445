//! Fuzz the command parser: never panic, and canonical text always parses back.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(command) = deckhand_commands::parse(text) {
        let canonical = command.to_string();
        assert_eq!(deckhand_commands::parse(&canonical).as_ref(), Ok(&command), "{canonical:?}");
    } else if let Err(error) = deckhand_commands::parse(text) {
        let _ = error.render();
    }
});
