//! The DNS wire format CoreDNS speaks (RFC 1035 §4; EDNS0 OPT of RFC 6891), as far as
//! cluster lookups need it: one question; A, AAAA, CNAME, PTR, SOA and OPT records.

use std::net::Ipv4Addr;

/// Record types.
pub mod rtype {
    /// A.
    pub const A: u16 = 1;
    /// NS.
    pub const NS: u16 = 2;
    /// CNAME.
    pub const CNAME: u16 = 5;
    /// SOA.
    pub const SOA: u16 = 6;
    /// PTR.
    pub const PTR: u16 = 12;
    /// HINFO.
    pub const HINFO: u16 = 13;
    /// AAAA.
    pub const AAAA: u16 = 28;
    /// SRV.
    pub const SRV: u16 = 33;
    /// OPT (EDNS0).
    pub const OPT: u16 = 41;
    /// ANY.
    pub const ANY: u16 = 255;
}

/// Response codes.
pub mod rcode {
    /// No error.
    pub const NOERROR: u8 = 0;
    /// Format error.
    pub const FORMERR: u8 = 1;
    /// Server failure.
    pub const SERVFAIL: u8 = 2;
    /// Name does not exist.
    pub const NXDOMAIN: u8 = 3;
    /// Not implemented.
    pub const NOTIMP: u8 = 4;
}

/// The name of a record type as `dig` and CoreDNS' logs print it.
pub fn type_name(t: u16) -> String {
    match t {
        rtype::A => "A".into(),
        rtype::NS => "NS".into(),
        rtype::CNAME => "CNAME".into(),
        rtype::SOA => "SOA".into(),
        rtype::PTR => "PTR".into(),
        rtype::HINFO => "HINFO".into(),
        rtype::AAAA => "AAAA".into(),
        rtype::SRV => "SRV".into(),
        rtype::OPT => "OPT".into(),
        rtype::ANY => "ANY".into(),
        t => format!("TYPE{t}"),
    }
}

/// The name of a response code.
pub fn rcode_name(r: u8) -> &'static str {
    match r {
        rcode::NOERROR => "NOERROR",
        rcode::FORMERR => "FORMERR",
        rcode::SERVFAIL => "SERVFAIL",
        rcode::NXDOMAIN => "NXDOMAIN",
        rcode::NOTIMP => "NOTIMP",
        _ => "REFUSED",
    }
}

/// A parsed query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// Message ID.
    pub id: u16,
    /// Opcode.
    pub opcode: u8,
    /// Recursion desired.
    pub rd: bool,
    /// The question name, lowercase, with the trailing dot (`hello.default.svc.cluster.local.`).
    pub name: String,
    /// Question type.
    pub qtype: u16,
    /// Question class.
    pub qclass: u16,
    /// The EDNS0 UDP payload size, when the query has an OPT record.
    pub edns: Option<u16>,
}

fn read_name(msg: &[u8], mut pos: usize) -> Option<(String, usize)> {
    let mut labels = vec![];
    let mut end = None;
    let mut hops = 0;
    loop {
        let len = *msg.get(pos)? as usize;
        if len == 0 {
            pos += 1;
            break;
        }
        if len & 0xc0 == 0xc0 {
            let ptr = ((len & 0x3f) << 8) | *msg.get(pos + 1)? as usize;
            if end.is_none() {
                end = Some(pos + 2);
            }
            hops += 1;
            if hops > 16 {
                return None;
            }
            pos = ptr;
            continue;
        }
        let label = msg.get(pos + 1..pos + 1 + len)?;
        labels.push(String::from_utf8_lossy(label).to_ascii_lowercase());
        pos += 1 + len;
    }
    let name = if labels.is_empty() {
        ".".to_string()
    } else {
        format!("{}.", labels.join("."))
    };
    Some((name, end.unwrap_or(pos)))
}

impl Query {
    /// Parses a query message (`None` when it is not one labsim can answer).
    pub fn parse(msg: &[u8]) -> Option<Query> {
        if msg.len() < 12 || msg[2] & 0x80 != 0 {
            return None;
        }
        let id = u16::from_be_bytes([msg[0], msg[1]]);
        let opcode = (msg[2] >> 3) & 0x0f;
        let rd = msg[2] & 0x01 != 0;
        let qd = u16::from_be_bytes([msg[4], msg[5]]);
        let an = u16::from_be_bytes([msg[6], msg[7]]);
        let ns = u16::from_be_bytes([msg[8], msg[9]]);
        let ar = u16::from_be_bytes([msg[10], msg[11]]);
        if qd != 1 {
            return None;
        }
        let (name, mut pos) = read_name(msg, 12)?;
        let qtype = u16::from_be_bytes([*msg.get(pos)?, *msg.get(pos + 1)?]);
        let qclass = u16::from_be_bytes([*msg.get(pos + 2)?, *msg.get(pos + 3)?]);
        pos += 4;
        let mut edns = None;
        for i in 0..(an as usize + ns as usize + ar as usize) {
            let (_, p) = read_name(msg, pos)?;
            let t = u16::from_be_bytes([*msg.get(p)?, *msg.get(p + 1)?]);
            let class = u16::from_be_bytes([*msg.get(p + 2)?, *msg.get(p + 3)?]);
            let rdlen = u16::from_be_bytes([*msg.get(p + 8)?, *msg.get(p + 9)?]) as usize;
            if t == rtype::OPT && i >= an as usize + ns as usize {
                edns = Some(class.max(512));
            }
            pos = p + 10 + rdlen;
        }
        Some(Query {
            id,
            opcode,
            rd,
            name,
            qtype,
            qclass,
            edns,
        })
    }
}

/// Record data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RData {
    /// An IPv4 address.
    A(Ipv4Addr),
    /// A canonical name.
    Cname(String),
    /// A pointer.
    Ptr(String),
    /// Start of authority: mname, rname, serial, refresh, retry, expire, minimum.
    Soa(String, String, u32, u32, u32, u32, u32),
}

/// A resource record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Owner name (with trailing dot).
    pub name: String,
    /// TTL.
    pub ttl: u32,
    /// Data.
    pub data: RData,
}

fn write_name(out: &mut Vec<u8>, name: &str) {
    for label in name
        .trim_end_matches('.')
        .split('.')
        .filter(|l| !l.is_empty())
    {
        let b = label.as_bytes();
        out.push(b.len().min(63) as u8);
        out.extend_from_slice(&b[..b.len().min(63)]);
    }
    out.push(0);
}

fn write_record(out: &mut Vec<u8>, r: &Record) {
    write_name(out, &r.name);
    let (t, rdata) = match &r.data {
        RData::A(ip) => (rtype::A, ip.octets().to_vec()),
        RData::Cname(n) => {
            let mut d = vec![];
            write_name(&mut d, n);
            (rtype::CNAME, d)
        }
        RData::Ptr(n) => {
            let mut d = vec![];
            write_name(&mut d, n);
            (rtype::PTR, d)
        }
        RData::Soa(m, rn, serial, refresh, retry, expire, minimum) => {
            let mut d = vec![];
            write_name(&mut d, m);
            write_name(&mut d, rn);
            for v in [serial, refresh, retry, expire, minimum] {
                d.extend_from_slice(&v.to_be_bytes());
            }
            (rtype::SOA, d)
        }
    };
    out.extend_from_slice(&t.to_be_bytes());
    out.extend_from_slice(&1u16.to_be_bytes());
    out.extend_from_slice(&r.ttl.to_be_bytes());
    out.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
    out.extend_from_slice(&rdata);
}

/// An answer to `q`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// Response code.
    pub rcode: u8,
    /// Authoritative.
    pub aa: bool,
    /// Answer section.
    pub answers: Vec<Record>,
    /// Authority section.
    pub authority: Vec<Record>,
}

/// Encodes the response to `q`.
pub fn encode(q: &Query, a: &Answer) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    out.extend_from_slice(&q.id.to_be_bytes());
    let mut f1 = 0x80 | (q.opcode << 3);
    if a.aa {
        f1 |= 0x04;
    }
    if q.rd {
        f1 |= 0x01;
    }
    out.push(f1);
    out.push(a.rcode & 0x0f);
    out.extend_from_slice(&1u16.to_be_bytes());
    out.extend_from_slice(&(a.answers.len() as u16).to_be_bytes());
    out.extend_from_slice(&(a.authority.len() as u16).to_be_bytes());
    out.extend_from_slice(&u16::from(q.edns.is_some()).to_be_bytes());
    write_name(&mut out, &q.name);
    out.extend_from_slice(&q.qtype.to_be_bytes());
    out.extend_from_slice(&q.qclass.to_be_bytes());
    for r in a.answers.iter().chain(&a.authority) {
        write_record(&mut out, r);
    }
    if let Some(size) = q.edns {
        out.push(0);
        out.extend_from_slice(&rtype::OPT.to_be_bytes());
        out.extend_from_slice(&size.to_be_bytes());
        out.extend_from_slice(&0u32.to_be_bytes());
        out.extend_from_slice(&0u16.to_be_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A query as `dig hello.default.svc.cluster.local` sends it (with EDNS0).
    fn dig_query() -> Vec<u8> {
        let mut m = vec![0x12, 0x34, 0x01, 0x20, 0, 1, 0, 0, 0, 0, 0, 1];
        write_name(&mut m, "Hello.default.svc.cluster.local.");
        m.extend_from_slice(&[0, 1, 0, 1]);
        m.extend_from_slice(&[0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0]);
        m
    }

    #[test]
    fn queries_parse_and_answers_encode() {
        let q = Query::parse(&dig_query()).unwrap();
        assert_eq!(q.id, 0x1234);
        assert!(q.rd);
        assert_eq!(q.name, "hello.default.svc.cluster.local.");
        assert_eq!(q.qtype, rtype::A);
        assert_eq!(q.edns, Some(1232));
        let a = Answer {
            rcode: rcode::NOERROR,
            aa: true,
            answers: vec![Record {
                name: q.name.clone(),
                ttl: 30,
                data: RData::A(Ipv4Addr::new(10, 96, 12, 7)),
            }],
            authority: vec![],
        };
        let out = encode(&q, &a);
        assert_eq!(&out[..4], &[0x12, 0x34, 0x85, 0x00], "qr aa rd, NOERROR");
        assert_eq!(&out[4..12], &[0, 1, 0, 1, 0, 0, 0, 1]);
        assert_eq!(&out[out.len() - 11 - 4..out.len() - 11], &[10, 96, 12, 7]);
        // The response parses back as a message (its question section).
        let (name, _) = read_name(&out, 12).unwrap();
        assert_eq!(name, q.name);
        assert!(Query::parse(&out).is_none(), "a response is not a query");
        assert!(Query::parse(&[0; 5]).is_none());
    }

    #[test]
    fn compression_pointers_are_followed() {
        let mut m = vec![0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        m.extend_from_slice(&[0xc0, 18, 0, 1, 0, 1]);
        m.extend_from_slice(&[3, b'f', b'o', b'o', 0]);
        let q = Query::parse(&m).unwrap();
        assert_eq!(q.name, "foo.");
        let mut looping = vec![0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        looping.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1]);
        assert!(Query::parse(&looping).is_none());
    }
}
