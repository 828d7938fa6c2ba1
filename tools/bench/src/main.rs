//! `bench <command>`: the pieces `tools/bench/run.py` puts together.
//!
//!   generate --rows N [--first-row R] [--quoted-newlines] --out FILE
//!   expect FILE...                  distinct keys and values digest the files should leave
//!   sink [--capacity ITEMS_PER_S] [--throttle unprocessed|exception] [--table NAME]
//!   parse FILE                      parse + convert only, on one core
//!   load BUCKET KEY                 the csv-loader's load, configured by its environment
//!   load-fenced BUCKET KEY          the same on its fenced path (STATE_TABLE at STATE_ENDPOINT)
//!   part BUCKET KEY                 part 1 of FAN_OUT_PARTS of a fanned-out load of a file
//!   cold-start --event FILE [--runs N] -- COMMAND...

use std::io::{BufWriter, Read};
use std::sync::Arc;

use anyhow::{Context, bail};
use bench::sink::{Sink, SinkSettings, Throttle};
use bench::{cold_start, generate, measure};

const USAGE: &str = "usage: bench generate --rows N [--first-row R] [--quoted-newlines] --out FILE
       bench expect FILE...
       bench sink [--capacity ITEMS_PER_S] [--throttle unprocessed|exception] [--table NAME]
       bench parse FILE
       bench load BUCKET KEY
       bench load-fenced BUCKET KEY
       bench part BUCKET KEY
       bench cold-start --event FILE [--runs N] -- COMMAND...";

/// `--name value` options and bare arguments, in order.
struct Args {
    options: Vec<(String, Option<String>)>,
    positional: Vec<String>,
}

impl Args {
    fn parse(raw: &[String], flags: &[&str]) -> Args {
        let mut args = Args {
            options: Vec::new(),
            positional: Vec::new(),
        };
        let mut i = 0;
        while i < raw.len() {
            if let Some(name) = raw[i].strip_prefix("--") {
                if flags.contains(&name) {
                    args.options.push((name.to_string(), None));
                } else {
                    args.options
                        .push((name.to_string(), raw.get(i + 1).cloned()));
                    i += 1;
                }
            } else {
                args.positional.push(raw[i].clone());
            }
            i += 1;
        }
        args
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.options
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| v.as_deref())
    }

    fn has(&self, name: &str) -> bool {
        self.options.iter().any(|(n, _)| n == name)
    }

    fn number(&self, name: &str) -> anyhow::Result<Option<u64>> {
        self.get(name)
            .map(|v| {
                v.parse()
                    .with_context(|| format!("--{name} {v:?} is not a number"))
            })
            .transpose()
    }
}

fn main() -> anyhow::Result<()> {
    let raw: Vec<String> = std::env::args().skip(1).collect();
    let Some((command, rest)) = raw.split_first() else {
        bail!("{USAGE}");
    };
    match command.as_str() {
        "generate" => {
            let args = Args::parse(rest, &["quoted-newlines"]);
            let rows = args.number("rows")?.context("--rows is required")?;
            let out = args.get("out").context("--out is required")?;
            let file = std::fs::File::create(out).with_context(|| format!("creating {out}"))?;
            let shape = generate::Shape {
                rows,
                first_row: args.number("first-row")?.unwrap_or(0),
                quoted_newlines: args.has("quoted-newlines"),
            };
            generate::write_csv(shape, &mut BufWriter::with_capacity(1 << 20, file))?;
        }
        "sink" => {
            let args = Args::parse(rest, &[]);
            let throttle = match args.get("throttle").unwrap_or("unprocessed") {
                "unprocessed" => Throttle::Unprocessed,
                "exception" => Throttle::Exception,
                other => bail!("--throttle {other:?}: use unprocessed or exception"),
            };
            let settings = SinkSettings {
                table: args.get("table").unwrap_or("orders").to_string(),
                partition_key: "order_id".into(),
                sort_key: Some("item_id".into()),
                capacity: args.number("capacity")?.filter(|&c| c > 0),
                throttle,
            };
            run_sink(settings)?;
        }
        "expect" => {
            let files = (rest.iter())
                .map(|f| std::fs::File::open(f).with_context(|| format!("opening {f}")))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let (keys, digest) = bench::digest::expect(files)?;
            println!(
                "{}",
                serde_json::json!({"distinct_keys": keys, "values_digest": digest})
            );
        }
        "parse" => {
            let [file] = rest else { bail!("{USAGE}") };
            let bytes = std::fs::read(file).with_context(|| format!("reading {file}"))?;
            let types = std::env::var("COLUMN_TYPES").unwrap_or(generate::COLUMN_TYPES.into());
            // One core: the figure is per core, and Lambda's smallest sizes have about one.
            let runtime = tokio::runtime::Builder::new_current_thread().build()?;
            let result = runtime.block_on(measure::parse_and_convert(bytes, &types))?;
            println!("{result}");
        }
        "load" | "load-fenced" => {
            let [bucket, key] = rest else {
                bail!("{USAGE}")
            };
            // As the function runs: tokio's default multi-threaded runtime.
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            let result = if command == "load" {
                runtime.block_on(measure::load(bucket, key))?
            } else {
                runtime.block_on(measure::load_fenced(bucket, key))?
            };
            println!("{result}");
        }
        "part" => {
            let [bucket, key] = rest else {
                bail!("{USAGE}")
            };
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            let result = runtime.block_on(measure::part(bucket, key))?;
            println!("{result}");
        }
        "cold-start" => {
            let split = rest.iter().position(|a| a == "--").context(USAGE)?;
            let args = Args::parse(&rest[..split], &[]);
            let command = &rest[split + 1..];
            let event_file = args.get("event").context("--event is required")?;
            let event =
                std::fs::read(event_file).with_context(|| format!("reading {event_file}"))?;
            let runs = args.number("runs")?.unwrap_or(5) as usize;
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            let result = runtime.block_on(cold_start::measure_runs(command, event, runs))?;
            println!("{result}");
        }
        _ => bail!("{USAGE}"),
    }
    Ok(())
}

/// Serves until standard input closes, so the sink never outlives whoever started it.
fn run_sink(settings: SinkSettings) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        println!("READY http://{}", listener.local_addr()?);
        let server = tokio::spawn(bench::sink::serve(Arc::new(Sink::new(settings)), listener));
        tokio::task::spawn_blocking(|| std::io::stdin().read_to_end(&mut Vec::new())).await??;
        server.abort();
        Ok(())
    })
}
