//! A digest of an item's values, the same whether the sink computes it from what it was sent or
//! `bench expect` from the file: every value a load wrote can be checked, not only every key.

use std::collections::HashMap;
use std::io::Read;

use anyhow::Context;

use crate::generate::HEADER;

/// FNV-1a over `name \x1f type:value \x1e` of each attribute, in name order.
pub fn of_attributes<'a>(sorted: impl Iterator<Item = (&'a str, &'a str)>) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for (name, text) in sorted {
        for byte in (name.bytes())
            .chain([0x1f])
            .chain(text.bytes())
            .chain([0x1e])
        {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    hash
}

/// The number text the loader sends for a generated value: as written, except zero, which is `0`.
fn number_text(cell: &str) -> String {
    if cell.bytes().all(|b| b == b'0' || b == b'.') {
        "0".to_string()
    } else {
        cell.to_string()
    }
}

/// What the table should hold after loading generated files (`bench generate`): the number of
/// distinct keys and the sum of their items' digests, the last row of a key winning. Read with the
/// `csv` crate and the generated files' known types, not with the loader's own code.
pub fn expect(files: Vec<impl Read>) -> anyhow::Result<(u64, u64)> {
    let mut items: HashMap<(String, String), u64> = HashMap::new();
    for file in files {
        let mut reader = csv::ReaderBuilder::new().from_reader(file);
        let header: Vec<String> = reader.headers()?.iter().map(str::to_string).collect();
        anyhow::ensure!(
            header.join(",") == HEADER,
            "not a generated file: {header:?}"
        );
        let mut order: Vec<usize> = (0..header.len()).collect();
        order.sort_by(|a, b| header[*a].cmp(&header[*b]));
        for record in reader.records() {
            let record = record.context("reading a generated file")?;
            let texts: Vec<(&str, String)> = (order.iter())
                .filter(|&&i| !record[i].is_empty())
                .map(|&i| {
                    let name = header[i].as_str();
                    let text = match name {
                        "customer_id" | "amount" => format!("N:{}", number_text(&record[i])),
                        _ => format!("S:{}", &record[i]),
                    };
                    (name, text)
                })
                .collect();
            let digest = of_attributes(texts.iter().map(|(n, t)| (*n, t.as_str())));
            items.insert((record[0].to_string(), record[1].to_string()), digest);
        }
    }
    let sum = items.values().fold(0u64, |sum, d| sum.wrapping_add(*d));
    Ok((items.len() as u64, sum))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::item_digest;
    use serde_json::json;

    #[test]
    fn the_sink_and_the_file_agree_on_an_item() {
        let file = format!(
            "{HEADER}\n100000,1,7,\"12\"\" pizza\",0.00,USD,2020-09-01T00:00:00Z,9-1-2020\n"
        );
        let sent = json!({
            "item_id": {"S": "1"}, "order_id": {"S": "100000"}, "customer_id": {"N": "7"},
            "product": {"S": "12\" pizza"}, "amount": {"N": "0"}, "currency": {"S": "USD"},
            "time_stamp": {"S": "2020-09-01T00:00:00Z"}, "transaction_date": {"S": "9-1-2020"},
        });
        let (keys, digest) = expect(vec![file.as_bytes()]).unwrap();
        assert_eq!((keys, digest), (1, item_digest(sent.as_object().unwrap())));
        // One value off, and the digests differ.
        let mut changed = sent.clone();
        changed["amount"] = json!({"N": "0.01"});
        assert_ne!(digest, item_digest(changed.as_object().unwrap()));
    }
}
