//! Go's `encoding/json` syntax errors (scanner.go), so a body kube-apiserver could not decode is
//! refused with the message Go would have produced (`invalid character 'n' looking for beginning
//! of object key string`, `unexpected end of JSON input`).

/// Go's `quoteChar`: the offending byte in single quotes, escaped as `strconv.Quote` would.
fn quote_char(c: u8) -> String {
    match c {
        b'\'' => r"'\''".into(),
        b'"' => "'\"'".into(),
        b'\\' => r"'\\'".into(),
        0x07 => r"'\a'".into(),
        0x08 => r"'\b'".into(),
        0x0c => r"'\f'".into(),
        b'\n' => r"'\n'".into(),
        b'\r' => r"'\r'".into(),
        b'\t' => r"'\t'".into(),
        0x0b => r"'\v'".into(),
        c if c < 0x20 || c == 0x7f => format!(r"'\x{c:02x}'"),
        c if (0x80..0xa0).contains(&c) => format!(r"'\u{c:04x}'"),
        c => format!("'{}'", char::from(c)),
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Frame {
    ObjectKey,
    ObjectValue,
    Array,
}

#[derive(Clone, Copy, PartialEq)]
enum St {
    BeginValue,
    BeginValueOrEmpty,
    BeginStringOrEmpty,
    BeginString,
    EndValue,
    EndTop,
    InString,
    InStringEsc,
    InStringEscU(u8),
    Neg,
    One,
    Zero,
    Dot,
    Dot0,
    E,
    ESign,
    E0,
    Literal(&'static [u8], usize),
}

const SPACE: &[u8] = b" \t\r\n";

/// Checks `data` as Go's `json.Valid`/`checkValid` does.
///
/// # Errors
/// Go's `SyntaxError` text.
pub fn check(data: &[u8]) -> Result<(), String> {
    let mut stack: Vec<Frame> = vec![];
    let mut st = St::BeginValue;
    let err = |c: u8, ctx: &str| Err(format!("invalid character {} {ctx}", quote_char(c)));
    for &c in data {
        // A state may hand the byte on to another (numbers end at the next byte).
        let mut c_state = st;
        loop {
            st = c_state;
            match st {
                St::BeginValueOrEmpty if c == b']' => {
                    stack.pop();
                    st = end_after(&stack);
                    break;
                }
                St::BeginValue | St::BeginValueOrEmpty => {
                    if SPACE.contains(&c) {
                        break;
                    }
                    st = match c {
                        b'{' => {
                            stack.push(Frame::ObjectKey);
                            St::BeginStringOrEmpty
                        }
                        b'[' => {
                            stack.push(Frame::Array);
                            St::BeginValueOrEmpty
                        }
                        b'"' => St::InString,
                        b'-' => St::Neg,
                        b'0' => St::Zero,
                        b'1'..=b'9' => St::One,
                        b't' => St::Literal(b"true", 1),
                        b'f' => St::Literal(b"false", 1),
                        b'n' => St::Literal(b"null", 1),
                        _ => return err(c, "looking for beginning of value"),
                    };
                    break;
                }
                St::BeginStringOrEmpty => {
                    if SPACE.contains(&c) {
                        break;
                    }
                    if c == b'}' {
                        stack.pop();
                        st = end_after(&stack);
                        break;
                    }
                    c_state = St::BeginString;
                }
                St::BeginString => {
                    if SPACE.contains(&c) {
                        break;
                    }
                    if c == b'"' {
                        st = St::InString;
                        break;
                    }
                    return err(c, "looking for beginning of object key string");
                }
                St::EndValue => {
                    if stack.is_empty() {
                        c_state = St::EndTop;
                        continue;
                    }
                    if SPACE.contains(&c) {
                        break;
                    }
                    let top = stack.len() - 1;
                    match stack[top] {
                        Frame::ObjectKey => {
                            if c == b':' {
                                stack[top] = Frame::ObjectValue;
                                st = St::BeginValue;
                                break;
                            }
                            return err(c, "after object key");
                        }
                        Frame::ObjectValue => match c {
                            b',' => {
                                stack[top] = Frame::ObjectKey;
                                st = St::BeginString;
                                break;
                            }
                            b'}' => {
                                stack.pop();
                                st = end_after(&stack);
                                break;
                            }
                            _ => return err(c, "after object key:value pair"),
                        },
                        Frame::Array => match c {
                            b',' => {
                                st = St::BeginValue;
                                break;
                            }
                            b']' => {
                                stack.pop();
                                st = end_after(&stack);
                                break;
                            }
                            _ => return err(c, "after array element"),
                        },
                    }
                }
                St::EndTop => {
                    if SPACE.contains(&c) {
                        break;
                    }
                    return err(c, "after top-level value");
                }
                St::InString => {
                    match c {
                        b'"' => st = St::EndValue,
                        b'\\' => st = St::InStringEsc,
                        c if c < 0x20 => return err(c, "in string literal"),
                        _ => {}
                    }
                    break;
                }
                St::InStringEsc => {
                    st = match c {
                        b'b' | b'f' | b'n' | b'r' | b't' | b'\\' | b'/' | b'"' => St::InString,
                        b'u' => St::InStringEscU(0),
                        _ => return err(c, "in string escape code"),
                    };
                    break;
                }
                St::InStringEscU(n) => {
                    if !c.is_ascii_hexdigit() {
                        return err(c, "in \\u hexadecimal character escape");
                    }
                    st = if n == 3 {
                        St::InString
                    } else {
                        St::InStringEscU(n + 1)
                    };
                    break;
                }
                St::Neg => {
                    st = match c {
                        b'0' => St::Zero,
                        b'1'..=b'9' => St::One,
                        _ => return err(c, "in numeric literal"),
                    };
                    break;
                }
                St::One if c.is_ascii_digit() => break,
                St::One | St::Zero => match c {
                    b'.' => {
                        st = St::Dot;
                        break;
                    }
                    b'e' | b'E' => {
                        st = St::E;
                        break;
                    }
                    _ => c_state = St::EndValue,
                },
                St::Dot => {
                    if c.is_ascii_digit() {
                        st = St::Dot0;
                        break;
                    }
                    return err(c, "after decimal point in numeric literal");
                }
                St::Dot0 => match c {
                    b'0'..=b'9' => break,
                    b'e' | b'E' => {
                        st = St::E;
                        break;
                    }
                    _ => c_state = St::EndValue,
                },
                St::E if c == b'+' || c == b'-' => {
                    st = St::ESign;
                    break;
                }
                St::E | St::ESign => {
                    if c.is_ascii_digit() {
                        st = St::E0;
                        break;
                    }
                    return err(c, "in exponent of numeric literal");
                }
                St::E0 => {
                    if c.is_ascii_digit() {
                        break;
                    }
                    c_state = St::EndValue;
                }
                St::Literal(word, i) => {
                    if c != word[i] {
                        return err(
                            c,
                            &format!(
                                "in literal {} (expecting {})",
                                std::str::from_utf8(word).unwrap_or_default(),
                                quote_char(word[i])
                            ),
                        );
                    }
                    st = if i + 1 == word.len() {
                        St::EndValue
                    } else {
                        St::Literal(word, i + 1)
                    };
                    break;
                }
            }
        }
    }
    // At the end: a number may end here; anything else unfinished is a truncated input.
    match st {
        St::EndTop => Ok(()),
        St::EndValue | St::One | St::Zero | St::Dot0 | St::E0 if stack.is_empty() => Ok(()),
        _ => Err("unexpected end of JSON input".into()),
    }
}

fn end_after(stack: &[Frame]) -> St {
    if stack.is_empty() {
        St::EndTop
    } else {
        St::EndValue
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_syntax_errors() {
        let e = |s: &str| check(s.as_bytes()).err().unwrap_or_default();
        assert_eq!(
            e("{not json"),
            "invalid character 'n' looking for beginning of object key string"
        );
        assert_eq!(e(""), "unexpected end of JSON input");
        assert_eq!(e("{\"a\":1"), "unexpected end of JSON input");
        assert_eq!(e("{\"a\" 1}"), "invalid character '1' after object key");
        assert_eq!(
            e("{\"a\":1 \"b\"}"),
            "invalid character '\"' after object key:value pair"
        );
        assert_eq!(e("[1 2]"), "invalid character '2' after array element");
        assert_eq!(e("{} x"), "invalid character 'x' after top-level value");
        assert_eq!(e("nul"), "unexpected end of JSON input");
        assert_eq!(
            e("trux"),
            "invalid character 'x' in literal true (expecting 'e')"
        );
        assert_eq!(e("-x"), "invalid character 'x' in numeric literal");
        assert_eq!(
            e("1.e"),
            "invalid character 'e' after decimal point in numeric literal"
        );
        assert_eq!(
            e("1e+x"),
            "invalid character 'x' in exponent of numeric literal"
        );
        assert_eq!(e("\"a\nb\""), "invalid character '\\n' in string literal");
        assert_eq!(e("\"\\q\""), "invalid character 'q' in string escape code");
        assert_eq!(
            e("kind: Pod"),
            "invalid character 'k' looking for beginning of value"
        );
        assert_eq!(
            e("{'a':1}"),
            "invalid character '\\'' looking for beginning of object key string"
        );
        for ok in [
            "{}",
            "[]",
            " {\"a\": [1, -2.5e+3, true, null, \"x\\u00e9\"]} ",
            "0",
            "[[],{}]",
        ] {
            assert_eq!(check(ok.as_bytes()), Ok(()), "{ok}");
        }
    }
}
