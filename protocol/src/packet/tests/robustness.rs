//! Decoding arbitrary text never panics.

use bytes::Bytes;

use super::*;

/// A small deterministic pseudo-random generator (64-bit LCG).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Decodes `text` and, if it is partial, pushes attachments beyond what it expects.
fn exercise(text: &str, rng: &mut Lcg) {
    if let Ok(Decoded::Partial(mut partial)) = decode(text, MAX) {
        let pushes = partial.remaining() + rng.below(2);
        for _ in 0..pushes {
            let _ = partial.push(Bytes::from_static(&[0xff]));
        }
    }
    let _ = crate::engine::decode_text(text);
    for item in crate::engine::decode_payload(text) {
        let _ = item;
    }
}

fn samples() -> Vec<String> {
    vec![
        "0".into(),
        r#"0{"token":"123"}"#.into(),
        "0/custom,".into(),
        r#"0/custom,{"token":"abc"}"#.into(),
        "1/custom".into(),
        r#"2["message",1,"2",{"3":[true]}]"#.into(),
        format!(r#"52-["message",{},{}]"#, placeholder(0), placeholder(1)),
        r#"2456["message-with-ack",1,"2",{"3":[false]}]"#.into(),
        format!(
            r#"52-789["message-with-ack",{},{}]"#,
            placeholder(0),
            placeholder(1)
        ),
        format!(r#"62-/custom,789[{},[{}]]"#, placeholder(1), placeholder(0)),
        r#"3/custom,12[{"a":[1.5,null,"é"]}]"#.into(),
        r#"4/random,{"message":"Invalid namespace"}"#.into(),
    ]
}

#[test]
fn prefixes_and_mutations_of_valid_packets_never_panic() {
    let mut rng = Lcg(42);
    for sample in samples() {
        for (i, _) in sample.char_indices() {
            exercise(&sample[..i], &mut rng);
            exercise(&sample[i..], &mut rng);
        }
        let chars: Vec<char> = sample.chars().collect();
        let alphabet: Vec<char> = "0123456789-/,[]{}\":_aé\u{1e}".chars().collect();
        for _ in 0..300 {
            let mut mutated = chars.clone();
            for _ in 0..=rng.below(3) {
                let at = rng.below(mutated.len());
                match rng.below(3) {
                    0 => mutated[at] = alphabet[rng.below(alphabet.len())],
                    1 => {
                        mutated.remove(at);
                        if mutated.is_empty() {
                            break;
                        }
                    }
                    _ => mutated.insert(at, alphabet[rng.below(alphabet.len())]),
                }
            }
            exercise(&mutated.iter().collect::<String>(), &mut rng);
        }
    }
}

#[test]
fn random_strings_never_panic() {
    let alphabet: Vec<char> = "0123456789-/,[]{}\"abc_:".chars().collect();
    let words = ["_placeholder", "true", "num", "null", "1e999", "\\u0000"];
    let mut rng = Lcg(7);
    for _ in 0..5000 {
        let len = rng.below(40);
        let mut text = String::new();
        for _ in 0..len {
            if rng.below(8) == 0 {
                text.push_str(words[rng.below(words.len())]);
            } else {
                text.push(alphabet[rng.below(alphabet.len())]);
            }
        }
        exercise(&text, &mut rng);
    }
}
