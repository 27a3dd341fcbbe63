//! Run with
//!
//! ```not_rust
//! echo -n 'correct horse' | cargo run -p imia-examples --bin hash_password
//! cargo run -p imia-examples --bin hash_password -- --measure
//! ```
//!
//! Hashes a password read from standard input with imia's argon2id defaults (OWASP: m=19456 KiB,
//! t=2, p=1) and prints the PHC string, ready to store in a `password_hash` column.
//!
//! With `--measure`, times hashing and verification on this machine instead (what one login
//! costs) and prints the median of 20 runs of each.

use std::{
    io::{self, Read as _},
    time::{Duration, Instant},
};

use imia::password::{Argon2Hasher, PasswordVerifier as _};

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

#[actix_web::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let hasher = Argon2Hasher::default();
    if std::env::args().any(|a| a == "--measure") {
        let hash = hasher.hash("measure-me").await?;
        let (mut hashing, mut verifying) = (Vec::new(), Vec::new());
        for _ in 0..20 {
            let start = Instant::now();
            hasher.hash("measure-me").await?;
            hashing.push(start.elapsed());
            let start = Instant::now();
            assert!(hasher.verify("measure-me", &hash).await?);
            verifying.push(start.elapsed());
        }
        println!("argon2id m=19456 KiB, t=2, p=1 on this machine (median of 20):");
        println!("  hash:   {:?}", median(hashing));
        println!("  verify: {:?} (one login)", median(verifying));
        return Ok(());
    }
    let mut password = String::new();
    io::stdin().read_to_string(&mut password)?;
    let password = password.strip_suffix('\n').unwrap_or(&password);
    println!("{}", hasher.hash(password).await?);
    Ok(())
}
