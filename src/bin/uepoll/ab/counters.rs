//! The counter blocks the library prints at exit (UEPOLL_STATS=1), picked out of a
//! program's output, and a run's totals.

/// Picks the counter blocks the library prints at exit out of a stream of stderr
/// lines: a `uepoll stats (pid N, engine E):` line, then `  name value` lines.
#[derive(Default)]
pub struct StatsFilter {
    pub blocks: Vec<Vec<(String, u64)>>,
    in_block: bool,
}

impl StatsFilter {
    /// Take one line (with or without its newline). True when it belongs to a block.
    pub fn feed(&mut self, line: &[u8]) -> bool {
        if line.starts_with(b"uepoll stats (pid ") {
            self.blocks.push(Vec::new());
            self.in_block = true;
            return true;
        }
        if self.in_block {
            if line.starts_with(b"  served share ") {
                // The block's summary line (the share is computed here from the
                // counters); it ends the block.
                self.in_block = false;
                return true;
            }
            if let Some(counter) = parse_counter(line) {
                if let Some(block) = self.blocks.last_mut() {
                    block.push(counter);
                }
                return true;
            }
            self.in_block = false;
        }
        false
    }
}

fn parse_counter(line: &[u8]) -> Option<(String, u64)> {
    let line = std::str::from_utf8(line.strip_prefix(b"  ")?).ok()?;
    let mut words = line.split_whitespace();
    let name = words.next()?;
    let value = words.next()?.parse::<u64>().ok()?;
    if words.next().is_some()
        || !name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return None;
    }
    Some((name.to_string(), value))
}

/// One run's counters: summed over its processes, except the `max_` ones.
pub fn run_totals(blocks: &[Vec<(String, u64)>]) -> Vec<(String, u64)> {
    let mut out: Vec<(String, u64)> = Vec::new();
    for (name, value) in blocks.iter().flatten() {
        match out.iter_mut().find(|(n, _)| n == name) {
            Some((_, v)) if name.starts_with("max_") => *v = (*v).max(*value),
            Some((_, v)) => *v = v.saturating_add(*value),
            None => out.push((name.clone(), *value)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_blocks_are_taken_out_of_stderr() {
        let text = "hello\n\
            uepoll stats (pid 12, engine SinglePass):\n  \
            engine_events              10\n  \
            max_concurrent_transfers   2\n\
            after\n  \
            indented program line\n\
            uepoll stats (pid 13, engine SinglePass):\n  \
            engine_events              5\n  \
            max_concurrent_transfers   1\n  \
            served share               100.00% of 5 events (engine_events / (engine_events + kernel_events))\n  \
            served share is a program line here\n";
        let mut f = StatsFilter::default();
        let passed: Vec<&str> = text
            .split_inclusive('\n')
            .filter(|l| !f.feed(l.as_bytes()))
            .collect();
        assert_eq!(
            passed,
            [
                "hello\n",
                "after\n",
                "  indented program line\n",
                "  served share is a program line here\n"
            ]
        );
        assert_eq!(f.blocks.len(), 2);
        assert_eq!(
            run_totals(&f.blocks),
            [
                ("engine_events".to_string(), 15),
                ("max_concurrent_transfers".to_string(), 2)
            ]
        );
    }
}
