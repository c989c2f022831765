//! Which worker reads which Kafka partition: a fixed rule, the same in every process.

/// The worker (of all workers of all processes) that reads partition `partition` of the
/// source's `topic_index`-th topic.
pub fn owner(topic_index: usize, partition: i32, workers: usize) -> usize {
    (topic_index + partition.max(0) as usize) % workers
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_do_not_move_when_partitions_are_added() {
        // Two topics of 4 partitions over 3 workers: spread evenly...
        let mut load = [0; 3];
        for t in 0..2 {
            for p in 0..4 {
                load[owner(t, p, 3)] += 1;
            }
        }
        assert_eq!(load.iter().sum::<i32>(), 8);
        assert!(load.iter().all(|&n| n >= 2), "{load:?}");
        // ...and a partition's owner depends on nothing that grows.
        assert_eq!(owner(1, 5, 4), 2);
        assert_eq!(owner(0, 4, 4), 0);
    }
}
