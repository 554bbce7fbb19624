//! The live keys (`LiteLLM_VerificationToken`) with the indexes that keep every request's cost
//! independent of how many keys there are: by hash, by alias, in `/key/list`'s default order
//! (`created_at` descending, so page N is a slice, not a scan) and by the time the reset job
//! next has work.
//!
//! Rows are numbered by their creation sequence (`KeyRecord::seq`, never reused, kept by
//! `/key/regenerate`). Every change goes through [`KeyTable::insert`], [`KeyTable::remove`] or
//! the [`KeyMut`] handle of [`KeyTable::get_mut`], which puts the row back into the alias and
//! reset indexes when it is dropped.

use std::cell::Cell;
use std::collections::{BTreeSet, HashMap};
use std::ops::{Deref, DerefMut};

use chrono::{DateTime, Utc};

use crate::records::KeyRecord;

/// The live keys and their indexes.
#[derive(Debug, Default)]
pub(crate) struct KeyTable {
    /// Boxed: a row is about a kilobyte, and a hash table holds its values in slots it
    /// over-allocates by up to 2x.
    rows: HashMap<u64, Box<KeyRecord>>,
    /// Key hash → seq.
    by_hash: HashMap<String, u64>,
    index: Indexes,
    /// Rows handed out by reads, for the tests that hold a listing to its page.
    rows_read: Cell<u64>,
}

#[derive(Debug, Default)]
struct Indexes {
    /// Every row as (`created_at`, seq), ascending: `/key/list`'s default order read from
    /// either end. Keys are created at the sim's "now", so an insert almost always appends.
    by_created: Vec<(DateTime<Utc>, u64)>,
    /// Alias → seqs of the live keys carrying it (LiteLLM keeps aliases unique, so one).
    by_alias: HashMap<String, BTreeSet<u64>>,
    /// (`budget_reset_at`, seq) of every key with a `budget_duration`: the reset job's work,
    /// earliest first.
    by_reset: BTreeSet<(DateTime<Utc>, u64)>,
}

/// What a row contributes to the indexes that can change after its insert.
#[derive(Debug, Clone, PartialEq)]
struct Indexed {
    alias: Option<String>,
    reset: Option<DateTime<Utc>>,
}

impl Indexed {
    fn of(record: &KeyRecord) -> Indexed {
        Indexed {
            alias: record.key_alias.clone(),
            reset: record.budget_duration.as_ref().and(record.budget_reset_at),
        }
    }
}

impl Indexes {
    fn add(&mut self, seq: u64, indexed: &Indexed) {
        if let Some(alias) = &indexed.alias {
            self.by_alias.entry(alias.clone()).or_default().insert(seq);
        }
        if let Some(at) = indexed.reset {
            self.by_reset.insert((at, seq));
        }
    }

    fn drop_row(&mut self, seq: u64, indexed: &Indexed) {
        if let Some(alias) = &indexed.alias
            && let Some(seqs) = self.by_alias.get_mut(alias)
        {
            seqs.remove(&seq);
            if seqs.is_empty() {
                self.by_alias.remove(alias);
            }
        }
        if let Some(at) = indexed.reset {
            self.by_reset.remove(&(at, seq));
        }
    }
}

/// `/key/list`'s order of all live keys when no other `sort_by` is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CreationOrder {
    NewestFirst,
    OldestFirst,
}

impl KeyTable {
    pub(crate) fn len(&self) -> usize {
        self.rows.len()
    }

    fn read(&self, seq: u64) -> Option<&KeyRecord> {
        let record = self.rows.get(&seq)?;
        self.rows_read.set(self.rows_read.get() + 1);
        Some(record)
    }

    /// How many rows reads have handed out so far.
    #[cfg(test)]
    pub(crate) fn rows_read(&self) -> u64 {
        self.rows_read.get()
    }

    pub(crate) fn contains_key(&self, token: &str) -> bool {
        self.by_hash.contains_key(token)
    }

    /// A live key by hash.
    pub(crate) fn get(&self, token: &str) -> Option<&KeyRecord> {
        self.read(*self.by_hash.get(token)?)
    }

    /// A live key by hash, to change; the indexes follow when the handle is dropped.
    pub(crate) fn get_mut(&mut self, token: &str) -> Option<KeyMut<'_>> {
        let seq = *self.by_hash.get(token)?;
        let record = self.rows.get_mut(&seq)?;
        self.rows_read.set(self.rows_read.get() + 1);
        let before = Indexed::of(record);
        Some(KeyMut {
            record,
            index: &mut self.index,
            before,
        })
    }

    /// Adds a key under its `token` (the caller has checked it is not taken).
    pub(crate) fn insert(&mut self, record: KeyRecord) {
        let seq = record.seq;
        let at = (record.created_at, seq);
        let position = self.index.by_created.partition_point(|entry| *entry < at);
        self.index.by_created.insert(position, at);
        self.index.add(seq, &Indexed::of(&record));
        self.by_hash.insert(record.token.clone(), seq);
        self.rows.insert(seq, Box::new(record));
    }

    pub(crate) fn remove(&mut self, token: &str) -> Option<KeyRecord> {
        let seq = self.by_hash.remove(token)?;
        let record = *self.rows.remove(&seq)?;
        let at = (record.created_at, seq);
        if let Ok(position) = self.index.by_created.binary_search(&at) {
            self.index.by_created.remove(position);
        }
        self.index.drop_row(seq, &Indexed::of(&record));
        Some(record)
    }

    /// Hashes of the live keys whose alias is exactly `alias`, oldest first.
    pub(crate) fn tokens_with_alias(&self, alias: &str) -> Vec<String> {
        self.index
            .by_alias
            .get(alias)
            .into_iter()
            .flatten()
            .filter_map(|seq| self.read(*seq))
            .map(|record| record.token.clone())
            .collect()
    }

    /// Every live key, in no particular order (for the listing filters no index serves).
    pub(crate) fn values(&self) -> impl Iterator<Item = &KeyRecord> {
        self.rows_read
            .set(self.rows_read.get() + self.rows.len() as u64);
        self.rows.values().map(|record| &**record)
    }

    /// `size` keys from position `offset` of `order`: only those rows are read.
    pub(crate) fn page(&self, order: CreationOrder, offset: usize, size: usize) -> Vec<&KeyRecord> {
        let all = &self.index.by_created;
        let (start, end) = match order {
            CreationOrder::OldestFirst => (
                offset.min(all.len()),
                offset.saturating_add(size).min(all.len()),
            ),
            CreationOrder::NewestFirst => {
                let end = all.len().saturating_sub(offset);
                (end.saturating_sub(size), end)
            }
        };
        let slice = all.get(start..end).unwrap_or_default();
        let seqs: Box<dyn Iterator<Item = &(DateTime<Utc>, u64)>> = match order {
            CreationOrder::OldestFirst => Box::new(slice.iter()),
            CreationOrder::NewestFirst => Box::new(slice.iter().rev()),
        };
        seqs.filter_map(|(_, seq)| self.read(*seq)).collect()
    }

    /// The reset job (see the `store` module): every key whose `budget_reset_at` has passed
    /// starts a new period, unless it expired. Reads only the keys that are due, so the cost
    /// is the number of resets, plus expired keys with a past reset time, which stay due.
    pub(crate) fn apply_resets(&mut self, now: DateTime<Utc>) {
        let due: Vec<u64> = self
            .index
            .by_reset
            .range(..(now, 0))
            .map(|(_, seq)| *seq)
            .collect();
        for seq in due {
            if let Some(record) = self.rows.get_mut(&seq) {
                let before = Indexed::of(record);
                record.apply_reset(now);
                reindex(&mut self.index, seq, &before, record);
            }
        }
    }
}

fn reindex(index: &mut Indexes, seq: u64, before: &Indexed, record: &KeyRecord) {
    let after = Indexed::of(record);
    if after != *before {
        index.drop_row(seq, before);
        index.add(seq, &after);
    }
}

/// A live key being changed; dropping it updates the alias and reset indexes.
#[derive(Debug)]
pub(crate) struct KeyMut<'a> {
    record: &'a mut KeyRecord,
    index: &'a mut Indexes,
    before: Indexed,
}

impl Deref for KeyMut<'_> {
    type Target = KeyRecord;

    fn deref(&self) -> &KeyRecord {
        self.record
    }
}

impl DerefMut for KeyMut<'_> {
    fn deref_mut(&mut self) -> &mut KeyRecord {
        self.record
    }
}

impl Drop for KeyMut<'_> {
    fn drop(&mut self) {
        reindex(self.index, self.record.seq, &self.before, self.record);
    }
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone};

    use super::*;

    fn table(keys: u64, start: DateTime<Utc>) -> KeyTable {
        let mut table = KeyTable::default();
        for seq in 1..=keys {
            // Two keys per second, so equal creation times are ordered by seq.
            let created = start + Duration::seconds(i64::try_from(seq / 2).unwrap_or(0));
            let mut record =
                KeyRecord::new(format!("{seq:064x}"), format!("sk-...{seq}"), created, seq);
            record.key_alias = Some(format!("alias-{seq}"));
            table.insert(record);
        }
        table
    }

    /// 100,000 keys (a million take over a minute and 1.3 GB in a debug build; the read
    /// count does not depend on the size, which is the point).
    #[test]
    fn a_deep_page_reads_only_its_rows() {
        let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let keys = 100_000;
        let table = table(keys, start);
        let before = table.rows_read();
        // Page 701 of 1,000 (100 per page), newest first: seqs 30,000 down to 29,901.
        let page = table.page(CreationOrder::NewestFirst, 70_000, 100);
        assert_eq!(table.rows_read() - before, 100);
        let seqs: Vec<u64> = page.iter().map(|k| k.seq).collect();
        let expected: Vec<u64> = (29_901..=30_000).rev().collect();
        assert_eq!(seqs, expected);
        // Oldest first, the last (short) page.
        let before = table.rows_read();
        let last = table.page(CreationOrder::OldestFirst, 99_950, 100);
        assert_eq!(table.rows_read() - before, 50);
        assert_eq!(last.first().map(|k| k.seq), Some(99_951));
        assert_eq!(last.last().map(|k| k.seq), Some(keys));
        // Past the end: nothing read.
        let before = table.rows_read();
        assert!(
            table
                .page(CreationOrder::NewestFirst, 100_000, 100)
                .is_empty()
        );
        assert_eq!(table.rows_read() - before, 0);
        // By alias and by hash: one row each.
        let before = table.rows_read();
        assert_eq!(
            table.tokens_with_alias("alias-12345"),
            vec![format!("{:064x}", 12_345)]
        );
        assert!(table.get(&format!("{:064x}", 54_321)).is_some());
        assert_eq!(table.rows_read() - before, 2);
        // A listing the indexes cannot serve reads every row: the count is honest.
        let before = table.rows_read();
        assert_eq!(table.values().count(), 100_000);
        assert_eq!(table.rows_read() - before, 100_000);
    }

    #[test]
    fn changes_through_the_handle_move_the_alias_and_reset_indexes() {
        let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let mut table = table(10, start);
        let token = format!("{:064x}", 3);
        {
            let mut key = table.get_mut(&token).unwrap();
            key.key_alias = Some("renamed".into());
            key.budget_duration = Some("1d".into());
            key.budget_reset_at = Some(start + Duration::days(1));
            key.spend = 5.0;
        }
        assert!(table.tokens_with_alias("alias-3").is_empty());
        assert_eq!(table.tokens_with_alias("renamed"), vec![token.clone()]);
        // Not due yet: nothing changes.
        table.apply_resets(start + Duration::hours(23));
        assert_eq!(table.get(&token).unwrap().spend, 5.0);
        // Due: the period restarts and the key moves to its next reset time.
        let later = start + Duration::days(1) + Duration::hours(1);
        table.apply_resets(later);
        let key = table.get(&token).unwrap();
        assert_eq!(key.spend, 0.0);
        let next = key.budget_reset_at.unwrap();
        assert!(next > later);
        assert_eq!(
            table.index.by_reset.iter().collect::<Vec<_>>(),
            vec![&(next, 3)]
        );
        // Removed: gone from every index.
        table.remove(&token).unwrap();
        assert!(table.tokens_with_alias("renamed").is_empty());
        assert!(table.index.by_reset.is_empty());
        assert_eq!(table.index.by_created.len(), 9);
        assert_eq!(table.len(), 9);
    }
}
