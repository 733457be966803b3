//! Installs one LZ4 image target from a signed TUF repository into a byte range of a disk file
//! the way Bottlerocket's updog does: tough's HTTP transport and target stream, bridged to a
//! blocking reader, `lz4::Decoder` and `io::copy` into the disk. With `fsync` the disk is synced
//! at the end (upstream does not sync).
//!
//! usage: updog-rust-peer ROOT_JSON METADATA_URL TARGETS_URL TARGET DISK OFFSET fsync|nofsync
use futures::TryStreamExt;
use std::fs::OpenOptions;
use std::io::{self, Seek, SeekFrom};
use tokio_util::io::{StreamReader, SyncIoBridge};
use tough::{HttpTransport, RepositoryLoader, TargetName};
use url::Url;

type Failure = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() -> Result<(), Failure> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 8 {
        return Err("usage: updog-rust-peer ROOT_JSON METADATA_URL TARGETS_URL TARGET DISK OFFSET fsync|nofsync".into());
    }
    let root = std::fs::read(&args[1])?;
    let repository = RepositoryLoader::new(&root, Url::parse(&args[2])?, Url::parse(&args[3])?)
        .transport(HttpTransport::default())
        .load()
        .await?;
    let target = TargetName::new(args[4].as_str())?;
    let stream = repository
        .read_target(&target)
        .await?
        .ok_or("target not in the signed metadata")?
        .map_err(io::Error::other);
    let reader = SyncIoBridge::new(StreamReader::new(stream));
    let (disk, offset, fsync) = (args[5].clone(), args[6].parse::<u64>()?, args[7] == "fsync");
    tokio::task::spawn_blocking(move || -> Result<u64, Failure> {
        let mut decoder = lz4::Decoder::new(reader)?;
        let mut file = OpenOptions::new().write(true).open(disk)?;
        file.seek(SeekFrom::Start(offset))?;
        let written = io::copy(&mut decoder, &mut file)?;
        if fsync {
            file.sync_all()?;
        }
        Ok(written)
    })
    .await??;
    Ok(())
}
