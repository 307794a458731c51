//! A string- and JSON-heavy task: counts words in `text` and returns the most frequent ones.
//!
//! `{"text": "a b a", "top": 1}` -> `{"words": 3, "distinct": 2, "top": [{"word": "a", "count": 2}]}`

use std::collections::HashMap;

use serde::Serialize;

/// One word and how often it occurs.
#[derive(Debug, Serialize)]
struct Frequency {
    word: String,
    count: u64,
}

/// What the task returns.
#[derive(Debug, Serialize)]
struct Counts {
    words: u64,
    distinct: u64,
    top: Vec<Frequency>,
}

/// How many of the most frequent words to return when `top` is not given.
const DEFAULT_TOP: usize = 10;

/// Counts the words of `text` (case-insensitive, split on anything not alphanumeric) and
/// returns the `top` most frequent, ties broken alphabetically.
#[wasmboost_guest::task]
fn wordcount(text: String, #[default(DEFAULT_TOP)] top: usize) -> Counts {
    let mut counts: HashMap<String, u64> = HashMap::new();
    let mut words = 0;
    for word in text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()) {
        *counts.entry(word.to_lowercase()).or_default() += 1;
        words += 1;
    }
    let distinct = counts.len() as u64;
    let mut ranked: Vec<Frequency> = counts
        .into_iter()
        .map(|(word, count)| Frequency { word, count })
        .collect();
    ranked.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.word.cmp(&b.word)));
    ranked.truncate(top);
    Counts { words, distinct, top: ranked }
}
