//! `FileName`: a served file named across a real call without a reference to it.
//! Local tables with numbers far above any the test process opens.

use std::sync::Arc;

use super::openfile::OpenFile;
use super::table::{Entry, Table};
use super::FileName;

const A: i32 = 900_001;
const B: i32 = 900_002;

fn eventfd_file(fd: i32) -> Arc<OpenFile> {
    OpenFile::new_eventfd(fd, 0, false)
}

fn resolved(table: &Table, name: FileName) -> Option<Arc<OpenFile>> {
    name.resolve(table).map(Arc::clone)
}

#[test]
fn a_file_name_finds_the_file_at_the_number_the_call_used() {
    let mut t = Table::default();
    let f = eventfd_file(A);
    t.install(A, Entry::File(Arc::clone(&f)));
    let name = FileName::of(A, &f);
    assert!(resolved(&t, name).is_some_and(|r| Arc::ptr_eq(&r, &f)));
    t.remove(A);
}

#[test]
fn a_file_name_follows_the_file_when_its_number_was_closed_during_the_call() {
    // The call's number closed (or dup2'd over) while the file stays open under a dup:
    // the kernel's call acted on the file, whose watchers must hear of it.
    let mut t = Table::default();
    let f = eventfd_file(A);
    t.install(A, Entry::File(Arc::clone(&f)));
    t.install(B, Entry::File(Arc::clone(&f)));
    let name = FileName::of(A, &f);
    let other = eventfd_file(A);
    t.install(A, Entry::File(Arc::clone(&other)));
    assert!(resolved(&t, name).is_some_and(|r| Arc::ptr_eq(&r, &f)));
    t.remove(A);
    assert!(resolved(&t, name).is_some_and(|r| Arc::ptr_eq(&r, &f)));
    t.remove(B);
}

#[test]
fn a_file_name_takes_no_other_file_at_its_number() {
    let mut t = Table::default();
    let f = eventfd_file(A);
    t.install(A, Entry::File(Arc::clone(&f)));
    let name = FileName::of(A, &f);
    t.install(A, Entry::File(eventfd_file(A)));
    assert!(resolved(&t, name).is_none(), "the file left the table");
    t.remove(A);
}

#[test]
fn a_file_name_tells_a_new_file_at_the_same_address_by_its_serial() {
    // The file freed during the call and a new one allocated at its address: only the
    // serial tells them apart.
    let mut t = Table::default();
    let f = eventfd_file(A);
    t.install(A, Entry::File(Arc::clone(&f)));
    let stale = FileName {
        serial: f.serial - 1,
        ..FileName::of(A, &f)
    };
    assert!(resolved(&t, stale).is_none());
    t.remove(A);
}

#[test]
fn a_file_name_by_number_takes_whatever_file_is_there() {
    let mut t = Table::default();
    let f = eventfd_file(A);
    t.install(A, Entry::File(Arc::clone(&f)));
    assert!(resolved(&t, FileName::number(A)).is_some_and(|r| Arc::ptr_eq(&r, &f)));
    assert!(resolved(&t, FileName::number(B)).is_none());
    t.remove(A);
}
