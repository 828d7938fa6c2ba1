//! Every function's AWS clients carry operation timeouts: a hung service ends in an error the code
//! handles, not in the Lambda timeout.

use std::path::Path;
use std::time::Duration;

use shared::sdk::{ATTEMPT_TIMEOUT, CONNECT_TIMEOUT, OPERATION_TIMEOUT, load_config};

#[tokio::test]
async fn the_loaded_configuration_bounds_every_operation() {
    let config = load_config().await;
    let timeouts = config.timeout_config().expect("timeouts set");
    assert_eq!(timeouts.connect_timeout(), Some(CONNECT_TIMEOUT));
    assert_eq!(timeouts.operation_attempt_timeout(), Some(ATTEMPT_TIMEOUT));
    assert_eq!(timeouts.operation_timeout(), Some(OPERATION_TIMEOUT));
    assert!(
        OPERATION_TIMEOUT < Duration::from_secs(900),
        "inside a Lambda invocation"
    );
}

#[test]
fn every_function_loads_its_configuration_with_the_timeouts() {
    let functions = Path::new(env!("CARGO_MANIFEST_DIR")).join("../functions");
    let mut checked = 0;
    for entry in std::fs::read_dir(&functions).unwrap() {
        let main = entry.unwrap().path().join("src/main.rs");
        let text = std::fs::read_to_string(&main).unwrap();
        assert!(
            text.contains("shared::sdk::load_config()") && !text.contains("aws_config::"),
            "{} must load its AWS configuration with shared::sdk::load_config()",
            main.display()
        );
        checked += 1;
    }
    assert_eq!(checked, 4, "the four functions");
}
