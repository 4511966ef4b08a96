//! `Scrub`: a response body wrapper that overwrites every occurrence of the injected token
//! and of its accessor with a mask of the same length, even across chunk boundaries, so a
//! caller can never read either whatever endpoint echoes it. Same length keeps
//! `Content-Length` valid.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use http_body::{Body, Frame, SizeHint};

use crate::vault::token::Token;

pin_project_lite::pin_project! {
    pub struct Scrub<B> {
        #[pin]
        inner: B,
        token: Arc<Token>,
        // The last `token.len() - 1` bytes seen, held back until we know they do not begin
        // an occurrence that the next chunk completes.
        carry: BytesMut,
        done: bool,
    }
}

impl<B> std::fmt::Debug for Scrub<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scrub").field("token", &self.token).finish()
    }
}

impl<B> Scrub<B> {
    pub fn new(inner: B, token: Arc<Token>) -> Scrub<B> {
        Scrub {
            inner,
            token,
            carry: BytesMut::new(),
            done: false,
        }
    }
}

const MASK: &[u8] = b"<redacted-token>";

/// Overwrites every occurrence of `needle` in `buf` in place.
pub fn mask_all(buf: &mut [u8], needle: &[u8]) {
    if needle.is_empty() {
        return;
    }
    let finder = memchr::memmem::Finder::new(needle);
    let mut from = 0;
    while let Some(pos) = finder.find(&buf[from..]) {
        let start = from + pos;
        for (i, b) in buf[start..start + needle.len()].iter_mut().enumerate() {
            *b = MASK[i % MASK.len()];
        }
        from = start + needle.len();
    }
}

/// Masks the held token and its accessor in an answer read whole.
pub fn mask_held(buf: &mut [u8], token: Option<&Arc<Token>>) {
    if let Some(t) = token {
        mask_all(buf, t.expose().as_bytes());
        mask_all(buf, t.accessor().map_or("", |a| a.expose()).as_bytes());
    }
}

impl<B> Body for Scrub<B>
where
    B: Body<Data = Bytes>,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let mut this = self.project();
        let needle = this.token.expose().as_bytes();
        let accessor = this.token.accessor().map_or("", |a| a.expose()).as_bytes();
        loop {
            if *this.done {
                return Poll::Ready(None);
            }
            match this.inner.as_mut().poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => {
                    *this.done = true;
                    if this.carry.is_empty() {
                        return Poll::Ready(None);
                    }
                    return Poll::Ready(Some(Ok(Frame::data(this.carry.split().freeze()))));
                }
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e))),
                Poll::Ready(Some(Ok(frame))) => {
                    let data = match frame.into_data() {
                        Ok(d) => d,
                        Err(trailers) => {
                            // Trailers end the body: flush what was held back first.
                            if this.carry.is_empty() {
                                return Poll::Ready(Some(Ok(trailers)));
                            }
                            *this.done = true;
                            return Poll::Ready(Some(Ok(Frame::data(this.carry.split().freeze()))));
                        }
                    };
                    this.carry.extend_from_slice(&data);
                    mask_all(this.carry, needle);
                    mask_all(this.carry, accessor);
                    let longest = needle.len().max(accessor.len());
                    let keep = longest.saturating_sub(1).min(this.carry.len());
                    let emit = this.carry.len() - keep;
                    if emit > 0 {
                        return Poll::Ready(Some(Ok(Frame::data(
                            this.carry.split_to(emit).freeze(),
                        ))));
                    }
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done
    }

    fn size_hint(&self) -> SizeHint {
        // Masking keeps the length, so the inner body's exact size stays true.
        let mut hint = self.inner.size_hint();
        let carried = self.carry.len() as u64;
        hint.set_lower(hint.lower() + carried);
        if let Some(upper) = hint.upper() {
            hint.set_upper(upper + carried);
        }
        hint
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vault::token::Accessor;
    use http_body_util::BodyExt;
    use std::collections::VecDeque;

    /// A body that yields the given chunks one frame each.
    struct Chunks(VecDeque<Bytes>);

    impl Body for Chunks {
        type Data = Bytes;
        type Error = std::convert::Infallible;
        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
            Poll::Ready(self.0.pop_front().map(|b| Ok(Frame::data(b))))
        }
    }

    async fn scrub_chunks(chunks: &[&str], token: &str) -> String {
        scrub_with(chunks, Token::new(token)).await
    }

    async fn scrub_with(chunks: &[&str], token: Token) -> String {
        let body = Chunks(
            chunks
                .iter()
                .map(|c| Bytes::copy_from_slice(c.as_bytes()))
                .collect(),
        );
        let out = Scrub::new(body, Arc::new(token))
            .collect()
            .await
            .unwrap()
            .to_bytes();
        String::from_utf8(out.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn masks_the_token_anywhere_with_the_same_length() {
        let token = "s.ABCDEFGHIJ";
        let whole = format!(r#"{{"data":{{"id":"{token}"}},"x":"{token}"}}"#);
        // Every way of cutting the body into two chunks.
        for cut in 0..=whole.len() {
            let out = scrub_chunks(&[&whole[..cut], &whole[cut..]], token).await;
            assert_eq!(out.len(), whole.len());
            assert!(!out.contains(token), "cut {cut}: {out}");
            assert!(out.contains("<redacted-t"));
        }
        let byte_by_byte: Vec<String> = whole.chars().map(|c| c.to_string()).collect();
        let refs: Vec<&str> = byte_by_byte.iter().map(String::as_str).collect();
        assert!(!scrub_chunks(&refs, token).await.contains(token));
        assert_eq!(
            scrub_chunks(&["no secret here"], token).await,
            "no secret here"
        );
    }

    #[tokio::test]
    async fn masks_the_accessor_too_across_chunks() {
        let accessor = "acc-0123456789abcdefghij";
        let token = Token::new("s.short").with_accessor(Accessor::from_field(&accessor.into()));
        let whole = format!(r#"{{"data":{{"accessor":"{accessor}","id":"s.short"}}}}"#);
        for cut in 0..=whole.len() {
            let out = scrub_with(&[&whole[..cut], &whole[cut..]], token.clone()).await;
            assert_eq!(out.len(), whole.len());
            assert!(
                !out.contains(accessor) && !out.contains("s.short"),
                "cut {cut}: {out}"
            );
        }
    }
}
