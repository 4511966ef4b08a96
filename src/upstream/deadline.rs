//! `Deadline`: bounds the wait for each piece of Vault's response body, so an answer that
//! stalls after its head ends in an error (and an aborted stream) instead of a hang.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::time::{Instant, Sleep};

use super::UpstreamError;

pin_project_lite::pin_project! {
    /// The clock runs only while the proxy is waiting on Vault: it starts when the body is
    /// polled and stops when a frame arrives, so a slow caller reading slowly never trips it.
    pub struct Deadline<B> {
        #[pin]
        inner: B,
        #[pin]
        sleep: Sleep,
        limit: Duration,
        waiting: bool,
    }
}

impl<B> std::fmt::Debug for Deadline<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deadline")
            .field("limit", &self.limit)
            .finish_non_exhaustive()
    }
}

impl<B> Deadline<B> {
    pub fn new(inner: B, limit: Duration) -> Deadline<B> {
        Deadline {
            inner,
            sleep: tokio::time::sleep(limit),
            limit,
            waiting: false,
        }
    }
}

impl<B> Body for Deadline<B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let mut this = self.project();
        if !*this.waiting {
            *this.waiting = true;
            let at = Instant::now() + *this.limit;
            this.sleep.as_mut().reset(at);
        }
        match this.inner.poll_frame(cx) {
            Poll::Ready(frame) => {
                *this.waiting = false;
                Poll::Ready(frame.map(|r| r.map_err(Into::into)))
            }
            Poll::Pending => match this.sleep.poll(cx) {
                Poll::Ready(()) => {
                    let limit = *this.limit;
                    Poll::Ready(Some(Err(Box::new(UpstreamError::Timeout(limit)))))
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    /// A body that yields one chunk and then never another.
    struct Stalls(bool);

    impl Body for Stalls {
        type Data = Bytes;
        type Error = std::convert::Infallible;
        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
            if self.0 {
                return Poll::Pending;
            }
            self.0 = true;
            Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(b"{\"da")))))
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_stalled_body_ends_in_a_timeout_error() {
        let mut body = Box::pin(Deadline::new(Stalls(false), Duration::from_secs(5)));
        let first = body.frame().await.unwrap().unwrap();
        assert_eq!(first.into_data().unwrap(), Bytes::from_static(b"{\"da"));
        // The caller took its time before asking for more: that does not count.
        tokio::time::sleep(Duration::from_secs(60)).await;
        let started = Instant::now();
        let err = body.frame().await.unwrap().unwrap_err();
        assert_eq!(started.elapsed(), Duration::from_secs(5));
        assert!(err.to_string().contains("did not answer within"), "{err}");
    }
}
