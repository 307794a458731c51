//! The beanstalkd protocol (text lines over TCP, `protocol.txt` of beanstalkd 1.10+) as a
//! `tokio-util` codec: [`Command`]s are encoded, [`Reply`]s decoded. Replies are context-free:
//! the first word says whether a data block (`RESERVED`, `FOUND`, `OK`) follows, so replies to
//! pipelined commands decode in order without knowing which command each answers.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

/// Longest reply line we accept (the longest real one, `USING <200-byte tube>`, is far shorter).
const MAX_LINE: usize = 1024;
/// Largest data block we accept (beanstalkd's own `-z` limit is at most 1 GiB).
pub(crate) const MAX_DATA: usize = 1 << 30;

/// A request to the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Command {
    Use(String),
    Watch(String),
    Ignore(String),
    Put {
        pri: u32,
        delay: u32,
        ttr: u32,
        body: Bytes,
    },
    ReserveWithTimeout(u32),
    Delete(u64),
    Release {
        id: u64,
        pri: u32,
        delay: u32,
    },
    Bury {
        id: u64,
        pri: u32,
    },
    Touch(u64),
    Peek(u64),
    StatsJob(u64),
    StatsTube(String),
    ListTubeUsed,
}

/// A reply from the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reply {
    Inserted(u64),
    /// `BURIED <id>` (a put the server could not queue) or `BURIED` (a bury).
    Buried(Option<u64>),
    Reserved {
        id: u64,
        body: Bytes,
    },
    Found {
        id: u64,
        body: Bytes,
    },
    /// The YAML of a `stats-*` command.
    Ok(Bytes),
    Using(String),
    Watching(u64),
    Deleted,
    Released,
    Touched,
    NotFound,
    TimedOut,
    DeadlineSoon,
    /// Any error line (`OUT_OF_MEMORY`, `DRAINING`, `JOB_TOO_BIG`, `BAD_FORMAT`, ...).
    Error(String),
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum ProtoError {
    #[error("beanstalkd connection: {0}")]
    Io(#[from] std::io::Error),
    #[error("unexpected beanstalkd reply {0:?}")]
    Malformed(String),
}

/// The codec of one connection.
#[derive(Debug, Default)]
pub(crate) struct Proto;

impl Encoder<Command> for Proto {
    type Error = ProtoError;

    fn encode(&mut self, cmd: Command, dst: &mut BytesMut) -> Result<(), ProtoError> {
        let line = match cmd {
            Command::Put {
                pri,
                delay,
                ttr,
                body,
            } => {
                let head = format!("put {pri} {delay} {ttr} {}\r\n", body.len());
                dst.reserve(head.len() + body.len() + 2);
                dst.put_slice(head.as_bytes());
                dst.put_slice(&body);
                dst.put_slice(b"\r\n");
                return Ok(());
            }
            Command::Use(tube) => format!("use {tube}"),
            Command::Watch(tube) => format!("watch {tube}"),
            Command::Ignore(tube) => format!("ignore {tube}"),
            Command::ReserveWithTimeout(secs) => format!("reserve-with-timeout {secs}"),
            Command::Delete(id) => format!("delete {id}"),
            Command::Release { id, pri, delay } => format!("release {id} {pri} {delay}"),
            Command::Bury { id, pri } => format!("bury {id} {pri}"),
            Command::Touch(id) => format!("touch {id}"),
            Command::Peek(id) => format!("peek {id}"),
            Command::StatsJob(id) => format!("stats-job {id}"),
            Command::StatsTube(tube) => format!("stats-tube {tube}"),
            Command::ListTubeUsed => "list-tube-used".to_owned(),
        };
        dst.reserve(line.len() + 2);
        dst.put_slice(line.as_bytes());
        dst.put_slice(b"\r\n");
        Ok(())
    }
}

impl Decoder for Proto {
    type Item = Reply;
    type Error = ProtoError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Reply>, ProtoError> {
        let Some(end) = src.windows(2).position(|w| w == b"\r\n") else {
            if src.len() > MAX_LINE {
                return Err(malformed(&src[..MAX_LINE]));
            }
            return Ok(None);
        };
        let line = std::str::from_utf8(&src[..end]).map_err(|_| malformed(&src[..end]))?;
        let mut words = line.split(' ');
        let head = words.next().unwrap_or_default();
        let mut num = || -> Result<u64, ProtoError> {
            words
                .next()
                .and_then(|w| w.parse().ok())
                .ok_or_else(|| malformed(line.as_bytes()))
        };
        // Replies with a data block: `<HEAD> [<id>] <bytes>\r\n<data>\r\n`.
        let with_data = match head {
            "RESERVED" => Some((Data::Reserved(num()?), num()?)),
            "FOUND" => Some((Data::Found(num()?), num()?)),
            "OK" => Some((Data::Ok, num()?)),
            _ => None,
        };
        if let Some((kind, len)) = with_data {
            let len = usize::try_from(len)
                .ok()
                .filter(|&l| l <= MAX_DATA)
                .ok_or_else(|| malformed(line.as_bytes()))?;
            let total = end + 2 + len + 2;
            if src.len() < total {
                src.reserve(total - src.len());
                return Ok(None);
            }
            if &src[total - 2..total] != b"\r\n" {
                return Err(malformed(&src[..end]));
            }
            src.advance(end + 2);
            let body = src.split_to(len).freeze();
            src.advance(2);
            return Ok(Some(match kind {
                Data::Reserved(id) => Reply::Reserved { id, body },
                Data::Found(id) => Reply::Found { id, body },
                Data::Ok => Reply::Ok(body),
            }));
        }
        let reply = match head {
            "INSERTED" => Reply::Inserted(num()?),
            "BURIED" => Reply::Buried(num().ok()),
            "USING" => Reply::Using(line["USING ".len().min(line.len())..].to_owned()),
            "WATCHING" => Reply::Watching(num()?),
            "DELETED" => Reply::Deleted,
            "RELEASED" => Reply::Released,
            "TOUCHED" => Reply::Touched,
            "NOT_FOUND" => Reply::NotFound,
            "TIMED_OUT" => Reply::TimedOut,
            "DEADLINE_SOON" => Reply::DeadlineSoon,
            _ => Reply::Error(line.to_owned()),
        };
        src.advance(end + 2);
        Ok(Some(reply))
    }
}

/// Which reply a data block belongs to.
#[derive(Debug, Clone, Copy)]
enum Data {
    Reserved(u64),
    Found(u64),
    Ok,
}

fn malformed(raw: &[u8]) -> ProtoError {
    ProtoError::Malformed(String::from_utf8_lossy(raw).into_owned())
}

/// The value of `key` in a `stats-*` YAML block (`key: value` lines).
pub(crate) fn stat<'a>(yaml: &'a [u8], key: &str) -> Option<&'a str> {
    std::str::from_utf8(yaml).ok()?.lines().find_map(|line| {
        let (k, v) = line.split_once(':')?;
        (k.trim() == key).then(|| v.trim())
    })
}

/// A numeric `stats-*` value (0 when missing).
pub(crate) fn stat_u64(yaml: &[u8], key: &str) -> u64 {
    stat(yaml, key).and_then(|v| v.parse().ok()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(raw: &[u8]) -> Vec<Reply> {
        let mut buf = BytesMut::from(raw);
        let mut out = Vec::new();
        while let Some(r) = Proto.decode(&mut buf).expect("valid replies") {
            out.push(r);
        }
        assert!(buf.is_empty(), "left over: {buf:?}");
        out
    }

    fn encode(cmd: Command) -> Vec<u8> {
        let mut buf = BytesMut::new();
        Proto.encode(cmd, &mut buf).expect("encodes");
        buf.to_vec()
    }

    #[test]
    fn commands_encode_as_the_protocol_says() {
        let put = Command::Put {
            pri: 65536,
            delay: 2,
            ttr: 60,
            body: Bytes::from_static(b"{\"x\":1}"),
        };
        assert_eq!(encode(put), b"put 65536 2 60 7\r\n{\"x\":1}\r\n");
        assert_eq!(
            encode(Command::ReserveWithTimeout(1)),
            b"reserve-with-timeout 1\r\n"
        );
        let release = Command::Release {
            id: 9,
            pri: 3,
            delay: 4,
        };
        assert_eq!(encode(release), b"release 9 3 4\r\n");
        assert_eq!(encode(Command::Bury { id: 9, pri: 3 }), b"bury 9 3\r\n");
        assert_eq!(
            encode(Command::StatsTube("a.b".into())),
            b"stats-tube a.b\r\n"
        );
    }

    /// Replies recorded from beanstalkd 1.12 (pipelined, as one read returned them).
    #[test]
    fn recorded_replies_decode_in_order() {
        let raw = b"USING wasmboost.add\r\nINSERTED 1\r\nINSERTED 2\r\nWATCHING 2\r\n\
RESERVED 1 7\r\n{\"x\":1}\r\nTIMED_OUT\r\nDEADLINE_SOON\r\nTOUCHED\r\nRELEASED\r\n\
BURIED\r\nBURIED 12\r\nDELETED\r\nNOT_FOUND\r\nFOUND 2 2\r\n{}\r\nDRAINING\r\n";
        let got = decode_all(raw);
        assert_eq!(
            got,
            [
                Reply::Using("wasmboost.add".into()),
                Reply::Inserted(1),
                Reply::Inserted(2),
                Reply::Watching(2),
                Reply::Reserved {
                    id: 1,
                    body: Bytes::from_static(b"{\"x\":1}")
                },
                Reply::TimedOut,
                Reply::DeadlineSoon,
                Reply::Touched,
                Reply::Released,
                Reply::Buried(None),
                Reply::Buried(Some(12)),
                Reply::Deleted,
                Reply::NotFound,
                Reply::Found {
                    id: 2,
                    body: Bytes::from_static(b"{}")
                },
                Reply::Error("DRAINING".into()),
            ]
        );
    }

    /// A `stats-job` reply recorded from beanstalkd 1.12 (second reserve, after a release).
    const STATS_JOB: &[u8] = b"OK 158\r\n---\nid: 1\ntube: wasmboost.add\nstate: reserved\n\
pri: 65536\nage: 0\ndelay: 0\nttr: 60\ntime-left: 59\nfile: 0\nreserves: 2\ntimeouts: 0\n\
releases: 1\nburies: 0\nkicks: 0\n\r\n";

    #[test]
    fn stats_yaml_is_read_by_key() {
        let yaml = match decode_all(STATS_JOB).pop() {
            Some(Reply::Ok(yaml)) => yaml,
            other => panic!("expected OK, got {other:?}"),
        };
        assert_eq!(stat(&yaml, "state"), Some("reserved"));
        assert_eq!(stat(&yaml, "tube"), Some("wasmboost.add"));
        assert_eq!(
            (stat_u64(&yaml, "reserves"), stat_u64(&yaml, "releases")),
            (2, 1)
        );
        assert_eq!(stat_u64(&yaml, "missing"), 0);
    }

    #[test]
    fn a_reply_split_across_reads_waits_for_the_rest() {
        let mut buf = BytesMut::from(&b"RESERVED 5 10\r\n01234"[..]);
        assert_eq!(Proto.decode(&mut buf).expect("partial is fine"), None);
        buf.extend_from_slice(b"56789\r\nDELETED\r");
        let first = Proto.decode(&mut buf).expect("complete");
        assert_eq!(
            first,
            Some(Reply::Reserved {
                id: 5,
                body: Bytes::from_static(b"0123456789")
            })
        );
        assert_eq!(Proto.decode(&mut buf).expect("partial line"), None);
        buf.extend_from_slice(b"\n");
        assert_eq!(
            Proto.decode(&mut buf).expect("complete"),
            Some(Reply::Deleted)
        );
    }

    #[test]
    fn bodies_may_contain_crlf() {
        let got = decode_all(b"RESERVED 1 4\r\na\r\nb\r\n");
        assert_eq!(
            got,
            [Reply::Reserved {
                id: 1,
                body: Bytes::from_static(b"a\r\nb")
            }]
        );
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for raw in [
            &b"RESERVED x 3\r\n"[..],
            b"RESERVED 1 3\r\nabcXY",
            b"OK 99999999999\r\n",
            b"INSERTED\r\n",
            b"\xff\xfe\r\n",
        ] {
            let mut buf = BytesMut::from(raw);
            assert!(Proto.decode(&mut buf).is_err(), "{raw:?} must be refused");
        }
        let mut long = BytesMut::from(&vec![b'A'; MAX_LINE + 1][..]);
        assert!(
            Proto.decode(&mut long).is_err(),
            "an endless line is refused"
        );
    }
}
