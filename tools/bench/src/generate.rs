//! Seed-format CSVs of any size, the same bytes for the same arguments: unique keys, a mix of
//! quoted and unquoted fields, non-ASCII product names, and optionally quoted newlines.

use std::io::{self, Write};

pub const HEADER: &str =
    "order_id,item_id,customer_id,product,amount,currency,time_stamp,transaction_date";
/// The column types the generated files are loaded with.
pub const COLUMN_TYPES: &str = "customer_id:N,amount:N";
/// Items per order: `order_id` and `item_id` together are unique.
const ITEMS_PER_ORDER: u64 = 8;

const PRODUCTS: &[&str] = &[
    "Salmon",
    "\"Salmon\"",
    "Café au lait",
    "\"Crème brûlée, two pieces\"",
    "Jalapeño poppers",
    "\"12\"\" pizza\"",
    "Smørrebrød",
    "寿司 盛り合わせ",
    "\"Apples, Pears\"",
    "Zürcher Geschnetzeltes",
];
const CURRENCIES: &[&str] = &["USD", "EUR", "GBP", "JPY"];

/// Options of one generated file.
#[derive(Debug, Clone, Copy, Default)]
pub struct Shape {
    pub rows: u64,
    /// The first row's number: files with different first rows have different keys.
    pub first_row: u64,
    /// Every 100th row gets a product with a newline inside quotes.
    pub quoted_newlines: bool,
}

/// splitmix64: a fixed, dependency-free sequence, so a file is the same on every machine.
struct Sequence(u64);

impl Sequence {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Writes the header and `shape.rows` data rows.
pub fn write_csv(shape: Shape, out: &mut impl Write) -> io::Result<()> {
    let mut random = Sequence(42);
    writeln!(out, "{HEADER}")?;
    for row in shape.first_row..shape.first_row + shape.rows {
        let order_id = 100_000 + row / ITEMS_PER_ORDER;
        let item_id = row % ITEMS_PER_ORDER + 1;
        let customer_id = 1 + random.below(5_000);
        let cents = random.below(1_000_000);
        let product = PRODUCTS[random.below(PRODUCTS.len() as u64) as usize];
        let currency = CURRENCIES[random.below(CURRENCIES.len() as u64) as usize];
        let day = 1 + random.below(28);
        let second = random.below(86_400);
        write!(out, "{order_id},{item_id},{customer_id},")?;
        if shape.quoted_newlines && row % 100 == 99 {
            write!(out, "\"Gift box\nwith card\"")?;
        } else {
            out.write_all(product.as_bytes())?;
        }
        writeln!(
            out,
            ",{}.{:02},{currency},2020-09-{day:02}T{:02}:{:02}:{:02}Z,9-{day}-2020",
            cents / 100,
            cents % 100,
            second / 3600,
            second / 60 % 60,
            second % 60,
        )?;
    }
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn generate(shape: Shape) -> Vec<u8> {
        let mut bytes = Vec::new();
        write_csv(shape, &mut bytes).unwrap();
        bytes
    }

    #[test]
    fn same_arguments_same_bytes_unique_keys_and_valid_csv() {
        let shape = Shape {
            rows: 2_000,
            ..Shape::default()
        };
        let bytes = generate(shape);
        assert_eq!(bytes, generate(shape));
        // Another file, starting where this one ends, shares none of its keys.
        let next = generate(Shape {
            first_row: 2_000,
            ..shape
        });
        let first_key = |bytes: &[u8]| {
            let text = String::from_utf8_lossy(bytes).into_owned();
            let row = text.lines().nth(1).unwrap().to_string();
            row.splitn(3, ',').take(2).collect::<Vec<_>>().join(",")
        };
        assert_eq!(first_key(&bytes), "100000,1");
        assert_eq!(first_key(&next), "100250,1");

        let mut reader = csv::Reader::from_reader(bytes.as_slice());
        assert_eq!(reader.headers().unwrap().len(), 8);
        let mut keys = HashSet::new();
        let mut products = HashSet::new();
        for record in reader.records() {
            let record = record.unwrap();
            assert_eq!(record.len(), 8);
            assert!(keys.insert((record[0].to_string(), record[1].to_string())));
            record[4].parse::<f64>().unwrap();
            products.insert(record[3].to_string());
        }
        assert_eq!(keys.len(), 2_000);
        assert!(
            products.contains("12\" pizza"),
            "escaped quotes: {products:?}"
        );
        assert!(products.contains("Crème brûlée, two pieces"));
        assert!(products.contains("寿司 盛り合わせ"));
    }

    #[test]
    fn quoted_newlines_stay_inside_one_record() {
        let bytes = generate(Shape {
            rows: 300,
            quoted_newlines: true,
            ..Shape::default()
        });
        let lines = bytes.iter().filter(|&&b| b == b'\n').count();
        assert_eq!(
            lines,
            1 + 300 + 3,
            "header, rows, and three embedded newlines"
        );
        let records = csv::Reader::from_reader(bytes.as_slice()).records().count();
        assert_eq!(records, 300);
    }
}
