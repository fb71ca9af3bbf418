//! A conservative estimate of how guessable a string is, for secrets and e-mail tokens.
//!
//! The string is read left to right as tokens: a repeat of at least three characters seen
//! before (overlapping allowed, so `aaaa…` and `abcabc…` are one token after the first
//! period) and a run of at least three consecutive code points (`1234…`, `abcd…`, `zyx…`)
//! each count as one token; every other character is one token. Each token is worth
//! log2 of the alphabet its character classes span (lowercase 26, uppercase 26, digits 10,
//! other printable ASCII 33, anything else 128 more). Random strings score about their
//! true entropy; padding, repetition and small alphabets score low.

/// The estimated entropy of `text`, in bits.
pub fn estimate_bits(text: &str) -> f64 {
    let chars: Vec<char> = text.chars().collect();
    let alphabet = alphabet_size(&chars);
    if alphabet <= 1 || chars.is_empty() {
        return 0.0;
    }
    let mut tokens = 0usize;
    let mut i = 0;
    while i < chars.len() {
        let step = longest_repeat(&chars, i).max(sequence_run(&chars, i));
        i += if step >= 3 { step } else { 1 };
        tokens += 1;
    }
    #[allow(clippy::cast_precision_loss)]
    let bits = tokens as f64 * (alphabet as f64).log2();
    bits
}

/// The longest match of `chars[at..]` starting earlier (at most 4 KiB back).
fn longest_repeat(chars: &[char], at: usize) -> usize {
    let mut best = 0;
    for start in at.saturating_sub(4096)..at {
        let len = chars[at..]
            .iter()
            .zip(&chars[start..])
            .take_while(|(a, b)| a == b)
            .count();
        best = best.max(len);
    }
    best
}

/// The length of the run of consecutive code points (up or down by one) at `at`.
fn sequence_run(chars: &[char], at: usize) -> usize {
    let step = |a: char, b: char| i64::from(u32::from(b)) - i64::from(u32::from(a));
    let Some(first) = chars.get(at..at + 2).map(|w| step(w[0], w[1])) else {
        return 1;
    };
    if first != 1 && first != -1 {
        return 1;
    }
    1 + chars[at..]
        .windows(2)
        .take_while(|w| step(w[0], w[1]) == first)
        .count()
}

fn alphabet_size(chars: &[char]) -> u32 {
    let mut size = 0;
    if chars.iter().any(char::is_ascii_lowercase) {
        size += 26;
    }
    if chars.iter().any(char::is_ascii_uppercase) {
        size += 26;
    }
    if chars.iter().any(char::is_ascii_digit) {
        size += 10;
    }
    if chars
        .iter()
        .any(|c| c.is_ascii() && !c.is_ascii_alphanumeric())
    {
        size += 33;
    }
    if chars.iter().any(|c| !c.is_ascii()) {
        size += 128;
    }
    size
}

/// A small deterministic RNG (SplitMix64) to sample a token generator at build time, where
/// the pure core has no randomness of its own. Not for anything secret.
pub(crate) struct SampleRng(u64);

impl SampleRng {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }
}

impl rand_core::RngCore for SampleRng {
    fn next_u32(&mut self) -> u32 {
        // The high half of a 64-bit draw.
        #[allow(clippy::cast_possible_truncation)]
        let high = (self.next_u64() >> 32) as u32;
        high
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        rand_core::impls::fill_bytes_via_next(self, dest);
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padding_repetition_and_sequences_score_low() {
        for weak in [
            "a".repeat(64),
            "password".repeat(4),
            format!("password{}", "!".repeat(24)),
            format!("password{}", "0".repeat(24)),
            "0123456789abcdef0123456789abcdef".to_owned(),
            "abababababababababababababababab".to_owned(),
        ] {
            assert!(
                estimate_bits(&weak) < 128.0,
                "{weak}: {}",
                estimate_bits(&weak)
            );
        }
    }

    #[test]
    fn random_strings_score_high() {
        for strong in [
            "5f3c9b0e1d2a4b6c8d0e1f2a3b4c5d6e",
            "q3Jx0pV9c2mZ7rT1yB6nW4kH8sD5fL0a+/Qe=",
            "a-test-secret-that-is-long-enough-0123456789",
        ] {
            assert!(
                estimate_bits(strong) >= 128.0,
                "{strong}: {}",
                estimate_bits(strong)
            );
        }
    }
}
