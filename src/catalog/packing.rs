//! Compact form of the answers the read cache keeps. The encoded GetAsset
//! answers of one catalog repeat the same field names, kinds, URIs and
//! values from one asset to the next, which general-purpose compression of
//! a single 1 KB answer cannot see but a shared dictionary can. The first
//! answers a packer is given train a zstd dictionary (once, on a thread of
//! its own); from then on every answer is kept compressed against it, so
//! one byte budget holds several times as many assets. Until the dictionary
//! is ready, or if training fails, answers are kept as they are. Answers
//! of different kinds share little, so the cache keeps a packer per kind.
//! The samples a packer gathers (at most [`SAMPLE_BYTES`] per kind, shared
//! with the cached answers while those live) are outside the cache's
//! budget; a dictionary is trained once per process and kind.

use std::cell::RefCell;
use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;
use zstd::dict::{DecoderDictionary, EncoderDictionary};
use zstd::zstd_safe::{CCtx, DCtx};

/// Largest dictionary trained. zstd's guidance is a dictionary about a
/// hundredth of the samples it is trained on.
const DICTIONARY_BYTES: usize = 16 * 1024;
/// Answers gathered before training: enough bytes for a dictionary of
/// [`DICTIONARY_BYTES`] and enough answers to see what they share.
const SAMPLE_BYTES: usize = 100 * DICTIONARY_BYTES;
const MIN_SAMPLES: usize = 64;
/// Compression level: the dictionary, not the level, is what makes small
/// answers small, and a low level keeps a miss cheap.
const LEVEL: i32 = 3;

/// An answer as the cache holds it.
#[derive(Debug, Clone)]
pub enum Packed {
    /// As given.
    Plain(Bytes),
    /// Compressed against `dictionary`; `len` is the answer's own length.
    Compressed {
        bytes: Bytes,
        len: usize,
        dictionary: Arc<Dictionary>,
    },
}

impl Packed {
    /// Bytes held.
    pub fn held(&self) -> usize {
        match self {
            Packed::Plain(bytes) | Packed::Compressed { bytes, .. } => bytes.len(),
        }
    }

    /// Whether the answer is held compressed.
    pub fn is_compressed(&self) -> bool {
        matches!(self, Packed::Compressed { .. })
    }

    /// The answer's own length.
    pub fn answer_len(&self) -> usize {
        match self {
            Packed::Plain(bytes) => bytes.len(),
            Packed::Compressed { len, .. } => *len,
        }
    }

    /// The answer, or `None` if it does not decompress to what was packed
    /// (the caller then builds the answer afresh).
    pub fn unpack(self) -> Option<Bytes> {
        match self {
            Packed::Plain(bytes) => Some(bytes),
            Packed::Compressed {
                bytes,
                len,
                dictionary,
            } => decompress(&dictionary, &bytes, len).map(Bytes::from),
        }
    }
}

/// Packs the answers of one kind, training its dictionary from the first
/// ones.
#[derive(Debug)]
pub struct Packer {
    thresholds: Thresholds,
    /// Set once: the trained dictionary, or `None` when training failed.
    dictionary: OnceLock<Option<Arc<Dictionary>>>,
    /// Answers gathered for training; `None` once handed to the trainer.
    samples: Mutex<Option<Samples>>,
}

#[derive(Debug, Clone, Copy)]
struct Thresholds {
    sample_bytes: usize,
    min_samples: usize,
    dictionary_bytes: usize,
}

#[derive(Debug, Default)]
struct Samples {
    answers: Vec<Bytes>,
    bytes: usize,
}

/// A trained dictionary, prepared for both directions.
pub struct Dictionary {
    encoder: EncoderDictionary<'static>,
    decoder: DecoderDictionary<'static>,
}

impl std::fmt::Debug for Dictionary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Dictionary")
    }
}

thread_local! {
    // zstd contexts are costly to create and hold no answer between
    // calls, so each thread keeps one of each.
    static CONTEXTS: RefCell<(Option<CCtx<'static>>, Option<DCtx<'static>>)> =
        const { RefCell::new((None, None)) };
}

impl Default for Packer {
    fn default() -> Self {
        Packer::with_thresholds(Thresholds {
            sample_bytes: SAMPLE_BYTES,
            min_samples: MIN_SAMPLES,
            dictionary_bytes: DICTIONARY_BYTES,
        })
    }
}

impl Packer {
    fn with_thresholds(thresholds: Thresholds) -> Self {
        Packer {
            thresholds,
            dictionary: OnceLock::new(),
            samples: Mutex::new(Some(Samples::default())),
        }
    }

    /// The form to keep `answer` in. Before the dictionary exists this
    /// also gathers the answer as a training sample, and starts training
    /// once enough are gathered.
    pub fn pack(self: &Arc<Self>, answer: Bytes) -> Packed {
        match self.dictionary.get() {
            Some(Some(dictionary)) => compress(dictionary, &answer)
                .filter(|bytes| bytes.len() < answer.len())
                .map(|bytes| Packed::Compressed {
                    bytes,
                    len: answer.len(),
                    dictionary: Arc::clone(dictionary),
                })
                .unwrap_or(Packed::Plain(answer)),
            Some(None) => Packed::Plain(answer),
            None => {
                self.gather(answer.clone());
                Packed::Plain(answer)
            }
        }
    }

    fn gather(self: &Arc<Self>, answer: Bytes) {
        let ready = {
            let mut slot = self.samples.lock().unwrap_or_else(|e| e.into_inner());
            let Some(samples) = slot.as_mut() else {
                return;
            };
            samples.bytes += answer.len();
            samples.answers.push(answer);
            if samples.bytes >= self.thresholds.sample_bytes
                && samples.answers.len() >= self.thresholds.min_samples
            {
                slot.take()
            } else {
                None
            }
        };
        if let Some(samples) = ready {
            let packer = Arc::clone(self);
            let spawned = std::thread::Builder::new()
                .name("answer-dictionary".into())
                .spawn(move || packer.train(samples));
            if spawned.is_err() {
                let _ = self.dictionary.set(None);
            }
        }
    }

    fn train(&self, samples: Samples) {
        let started = std::time::Instant::now();
        let trained = zstd::dict::from_samples(&samples.answers, self.thresholds.dictionary_bytes);
        let dictionary = match trained {
            Ok(raw) => {
                tracing::debug!(
                    samples = samples.answers.len(),
                    sample_bytes = samples.bytes,
                    dictionary_bytes = raw.len(),
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "trained the read cache's compression dictionary"
                );
                Some(Arc::new(Dictionary {
                    encoder: EncoderDictionary::copy(&raw, LEVEL),
                    decoder: DecoderDictionary::copy(&raw),
                }))
            }
            Err(error) => {
                tracing::warn!(%error, "read cache keeps answers uncompressed: dictionary training failed");
                None
            }
        };
        let _ = self.dictionary.set(dictionary);
    }

    /// Waits (up to `limit`) for training to finish; whether a dictionary
    /// is in use.
    #[cfg(test)]
    pub(super) fn wait_for_dictionary(&self, limit: std::time::Duration) -> bool {
        let deadline = std::time::Instant::now() + limit;
        while self.dictionary.get().is_none() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        matches!(self.dictionary.get(), Some(Some(_)))
    }
}

/// The compressed answer, in an allocation of its own size: the buffer
/// zstd writes into is sized for the worst case, several times what a
/// compressed answer needs, and the cache counts only what it keeps.
fn compress(dictionary: &Dictionary, answer: &[u8]) -> Option<Bytes> {
    CONTEXTS.with(|contexts| {
        let mut contexts = contexts.borrow_mut();
        let context = contexts.0.get_or_insert_with(CCtx::create);
        let mut out = Vec::with_capacity(zstd::zstd_safe::compress_bound(answer.len()));
        context
            .compress_using_cdict(&mut out, answer, dictionary.encoder.as_cdict())
            .ok()?;
        Some(Bytes::copy_from_slice(&out))
    })
}

fn decompress(dictionary: &Dictionary, packed: &[u8], len: usize) -> Option<Vec<u8>> {
    CONTEXTS.with(|contexts| {
        let mut contexts = contexts.borrow_mut();
        let context = contexts.1.get_or_insert_with(DCtx::create);
        let mut out = Vec::with_capacity(len);
        let written = context
            .decompress_using_ddict(&mut out, packed, dictionary.decoder.as_ddict())
            .ok()?;
        (written == len && out.len() == len).then_some(out)
    })
}

/// Answers alike in shape, as one catalog's are, each with its own name
/// and digest.
#[cfg(test)]
pub(super) fn sample_answer(i: usize) -> Bytes {
    Bytes::from(format!(
            "{{\"apiVersion\":\"catalog/v1alpha1\",\"kind\":\"Asset\",\"metadata\":{{\"name\":\"agent-{i:06}\",\
             \"plugin\":\"agents\",\"labels\":{{\"team\":\"team-{}\"}}}},\"spec\":{{\"description\":\"An agent that \
             answers questions about the catalog for team {}\",\"skills\":[\"skill-{:06}\"],\"model\":\"model-{:06}\"}},\
             \"status\":{{\"provenance\":{{\"sourceType\":\"yaml\",\"digest\":\"sha256:{:064x}\"}}}}}}",
            i % 7,
            i % 7,
            i * 3,
            i * 5,
            (i as u128).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c834)
        ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn answer(i: usize) -> Bytes {
        sample_answer(i)
    }

    fn small_packer() -> Arc<Packer> {
        Arc::new(Packer::with_thresholds(Thresholds {
            sample_bytes: 64 * 1024,
            min_samples: 16,
            dictionary_bytes: 4 * 1024,
        }))
    }

    #[test]
    fn answers_are_kept_as_given_until_a_dictionary_is_trained() {
        let packer = small_packer();
        let packed = packer.pack(answer(1));
        assert!(matches!(packed, Packed::Plain(_)));
        assert_eq!(packed.unpack(), Some(answer(1)));
    }

    #[test]
    fn after_training_answers_are_smaller_and_unpack_to_what_was_packed() {
        let packer = small_packer();
        for i in 0..400 {
            packer.pack(answer(i));
        }
        assert!(
            packer.wait_for_dictionary(Duration::from_secs(10)),
            "no dictionary was trained"
        );
        let (mut plain, mut held) = (0, 0);
        for i in 1000..1100 {
            let packed = packer.pack(answer(i));
            assert!(matches!(packed, Packed::Compressed { .. }), "answer {i}");
            plain += answer(i).len();
            held += packed.held();
            assert_eq!(packed.unpack(), Some(answer(i)));
        }
        assert!(
            held * 3 < plain,
            "compressed answers hold {held} of {plain} bytes"
        );
    }

    #[test]
    fn a_damaged_answer_is_not_served() {
        let packer = small_packer();
        for i in 0..400 {
            packer.pack(answer(i));
        }
        assert!(packer.wait_for_dictionary(Duration::from_secs(10)));
        let Packed::Compressed {
            bytes,
            len,
            dictionary,
        } = packer.pack(answer(5000))
        else {
            panic!("not compressed");
        };
        let mut damaged = bytes.to_vec();
        damaged.truncate(damaged.len() - 3);
        let damaged = Packed::Compressed {
            bytes: Bytes::from(damaged),
            len,
            dictionary: Arc::clone(&dictionary),
        };
        assert_eq!(damaged.unpack(), None);
        let wrong_len = Packed::Compressed {
            bytes,
            len: len + 1,
            dictionary,
        };
        assert_eq!(wrong_len.unpack(), None);
    }

    #[test]
    fn too_few_samples_to_train_on_leave_answers_plain() {
        let packer = Arc::new(Packer::with_thresholds(Thresholds {
            sample_bytes: 1,
            min_samples: 1,
            dictionary_bytes: 4 * 1024,
        }));
        packer.pack(Bytes::from_static(b"x"));
        assert!(!packer.wait_for_dictionary(Duration::from_secs(10)));
        assert!(
            packer.dictionary.get().is_some(),
            "training has finished (and failed)"
        );
        let packed = packer.pack(answer(3));
        assert!(matches!(packed, Packed::Plain(_)));
        assert_eq!(packed.unpack(), Some(answer(3)));
    }
}
