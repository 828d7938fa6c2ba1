//! A large file loaded by several parts at once: each part reads the whole file and writes only
//! the rows whose key hashes to it, so every row is written exactly once, by one writer per key, and
//! every key ends with its last row's values whatever order the parts run in. The parts are run
//! here as the state machine's Map runs them; `state_machine.rs` runs the template's own.

mod common;

use common::{Fixture, gzip, n, s};
use serde_json::{Value, json};
use shared::load::checkpoint::Checkpoint;
use shared::load::plan::run::summarize;
use shared::load::plan::step::PartOutcome;
use shared::load::summary::FileSummary;

const ROWS: u32 = 400;
/// Files from 1000 bytes on are loaded by four parts.
const FOUR_PARTS: &[(&str, &str)] = &[
    ("FAN_OUT_MIN_BYTES", "1000"),
    ("FAN_OUT_PARTS", "4"),
    ("COLUMN_TYPES", "amount:N"),
];

/// Every row's product spans three lines, CRLF line ends, and row 333 has a bad amount. With
/// `repeating`, every even row's key is one of 20 keys that recur all through the file.
fn multiline_rows(repeating: bool) -> String {
    let mut csv = String::from("order_id,item_id,product,amount\r\n");
    for row in 1..=ROWS {
        let amount = if row == 333 {
            "n/a".to_string()
        } else {
            row.to_string()
        };
        let id = if repeating && row % 2 == 0 {
            format!("k{}", row % 40)
        } else {
            format!("o{row}")
        };
        csv.push_str(&format!(
            "{id},i{id},\"box {row}\nwith, a card\n\"\"fragile\"\"\",{amount}\r\n"
        ));
    }
    csv
}

/// What the table holds once `multiline_rows(repeating)` is loaded: each key's last row.
fn last_rows(repeating: bool) -> std::collections::BTreeMap<String, u32> {
    let mut last = std::collections::BTreeMap::new();
    for row in (1..=ROWS).filter(|row| *row != 333) {
        let id = if repeating && row % 2 == 0 {
            format!("k{}", row % 40)
        } else {
            format!("o{row}")
        };
        last.insert(id, row);
    }
    last
}

async fn assert_last_rows_win(f: &Fixture, repeating: bool) {
    let expected = last_rows(repeating);
    let items = f.items().await;
    assert_eq!(items.len(), expected.len());
    for item in &items {
        let id = item["order_id"].as_s().unwrap();
        let row = expected[id];
        assert_eq!(item["amount"], n(&row.to_string()), "{id}");
        assert_eq!(
            item["product"],
            s(&format!("box {row}\nwith, a card\n\"fragile\"")),
            "{id}: no row was cut"
        );
    }
}

/// The parts the load of `key` fanned out into: the input of the one execution it started.
async fn fan_out(f: &Fixture, key: &str) -> Vec<Checkpoint> {
    let response = f
        .invoke(json!({"bucket": f.bucket, "key": key}))
        .await
        .unwrap();
    assert!(
        response.files.is_empty(),
        "no row is loaded by the invocation that fans out"
    );
    let execution = &response.executions[0];
    assert!(execution.name.starts_with("load-"), "{}", execution.name);
    let input: Value = f.execution_input(&execution.name).await;
    serde_json::from_value(input["parts"].clone()).unwrap()
}

/// Runs a part to its end, step by step, as the Map's branch does: its last summary.
async fn run_part(f: &Fixture, part: &Checkpoint) -> FileSummary {
    let mut job = part.clone();
    loop {
        let step = f.step(&job).await.unwrap();
        match step.next {
            Some(next) => job = next,
            None => return step.summary.expect("the part loaded"),
        }
    }
}

#[tokio::test]
async fn every_key_has_one_writer_and_its_last_row_wins_whatever_order_the_parts_run_in() {
    for (key, body) in [
        ("incoming/big.csv", multiline_rows(true).into_bytes()),
        ("incoming/big.csv.gz", gzip(multiline_rows(true).as_bytes())),
    ] {
        let f = Fixture::new(FOUR_PARTS).await;
        f.put(key, body).await;
        let parts = fan_out(&f, key).await;
        let indexes: Vec<(u32, u32)> = (parts.iter())
            .map(|p| p.part.map(|p| (p.index, p.of)).unwrap())
            .collect();
        assert_eq!(indexes, [(1, 4), (2, 4), (3, 4), (4, 4)], "{key}");
        let mut outcomes = Vec::new();
        for part in parts.iter().rev() {
            let summary = run_part(&f, part).await;
            assert!(summary.complete, "{key}: {summary:?}");
            outcomes.push(PartOutcome {
                summary: Some(summary),
            });
        }
        // Each part wrote a share of the rows; together, every row once.
        let read: Vec<u64> = (outcomes.iter())
            .map(|o| o.summary.as_ref().unwrap().counts.rows_read)
            .collect();
        assert!(
            read.iter().all(|&r| r > 0 && r < u64::from(ROWS)),
            "{key}: {read:?}"
        );
        let file = summarize(&f.state.loaders, outcomes).await;
        assert!(file.complete, "{key}");
        assert_eq!(file.parts, 4);
        assert_eq!(
            (file.counts.rows_read, file.counts.rows_rejected),
            (u64::from(ROWS), 1),
            "{key}"
        );
        // Row 333's bad amount is reported once, by the part its key hashes to, with its line.
        assert_eq!(file.reports.len(), 1, "{key}: {:?}", file.reports);
        assert!(f.report(&file.reports[0]).await.contains(",o333,"));
        assert!(file.reports[0].starts_with(&file.reports_under), "{file:?}");
        assert_last_rows_win(&f, true).await;
    }
}

#[tokio::test]
async fn a_part_left_unfinished_leaves_the_file_incomplete() {
    let f = Fixture::new(FOUR_PARTS).await;
    f.put("incoming/big.csv", multiline_rows(false)).await;
    let parts = fan_out(&f, "incoming/big.csv").await;
    let mut outcomes = vec![PartOutcome { summary: None }];
    for part in &parts[1..] {
        outcomes.push(PartOutcome {
            summary: Some(run_part(&f, part).await),
        });
    }
    let file = summarize(&f.state.loaders, outcomes).await;
    assert!(!file.complete);
    assert!(file.counts.rows_read < u64::from(ROWS));
}

#[tokio::test]
async fn a_small_file_loads_in_the_invocation_that_received_it() {
    let f = Fixture::new(FOUR_PARTS).await;
    f.put("incoming/small.csv", "order_id,item_id,amount\na,1,1\n")
        .await;
    let response = (f.invoke(json!({"bucket": f.bucket, "key": "incoming/small.csv"})))
        .await
        .unwrap();
    assert!(response.executions.is_empty());
    assert_eq!(response.files[0].part, None);
    assert!(response.files[0].complete);
    assert!(f.executions().await.is_empty());
    assert_eq!(f.items().await.len(), 1);
}
