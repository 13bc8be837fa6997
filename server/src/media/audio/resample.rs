//! The streaming mono resampler: input-rate samples in, 16 kHz out, aligned with the input.

use super::AudioError;
use rubato::audioadapter_buffers::direct::SequentialSliceOfVecs;
use rubato::{Fft, FixedSync, Resampler};

/// Streaming mono resampler: push samples at the input rate, take 16 kHz samples as they come.
/// The FFT resampler's delay is trimmed so the output lines up with the input.
pub struct MonoResampler {
    inner: Option<Fft<f32>>,
    pending: Vec<f32>,
    /// Output not yet taken (the first `delay` samples are dropped as they come).
    out: Vec<f32>,
    scratch: Vec<Vec<f32>>,
    total_in: u64,
    /// Output samples taken so far.
    taken: u64,
    ratio: f64,
    /// Leading output samples still to drop.
    delay: usize,
}

impl MonoResampler {
    pub fn new(rate_in: u32, rate_out: u32) -> Result<MonoResampler, AudioError> {
        let inner = if rate_in == rate_out {
            None
        } else {
            Some(
                Fft::<f32>::new(
                    rate_in as usize,
                    rate_out as usize,
                    1024,
                    1,
                    FixedSync::Input,
                )
                .map_err(|e| AudioError::Unsupported(format!("resampling {rate_in} Hz: {e}")))?,
            )
        };
        let delay = inner.as_ref().map(|r| r.output_delay()).unwrap_or(0);
        let max_out = inner.as_ref().map(|r| r.output_frames_max()).unwrap_or(0);
        Ok(MonoResampler {
            inner,
            pending: Vec::new(),
            out: Vec::new(),
            scratch: vec![vec![0.0; max_out]],
            total_in: 0,
            taken: 0,
            ratio: f64::from(rate_out) / f64::from(rate_in),
            delay,
        })
    }

    pub fn push(&mut self, samples: &[f32]) -> Result<(), AudioError> {
        self.total_in += samples.len() as u64;
        let Some(r) = self.inner.as_mut() else {
            self.out.extend_from_slice(samples);
            return Ok(());
        };
        self.pending.extend_from_slice(samples);
        let need = r.input_frames_next();
        let mut start = 0;
        while self.pending.len() - start >= need {
            let chunk = vec![self.pending[start..start + need].to_vec()];
            Self::run(r, &chunk, need, None, &mut self.scratch, &mut self.out)?;
            start += need;
        }
        self.pending.drain(..start);
        Ok(())
    }

    /// Move the output that is ready to `dest`; returns how many samples.
    pub fn take(&mut self, dest: &mut Vec<f32>) -> usize {
        let skip = self.delay.min(self.out.len());
        self.delay -= skip;
        let n = self.out.len() - skip;
        dest.extend_from_slice(&self.out[skip..]);
        self.out.clear();
        self.taken += n as u64;
        n
    }

    fn run(
        r: &mut Fft<f32>,
        chunk: &[Vec<f32>],
        frames: usize,
        partial: Option<usize>,
        scratch: &mut [Vec<f32>],
        out: &mut Vec<f32>,
    ) -> Result<(), AudioError> {
        let input = SequentialSliceOfVecs::new(chunk, 1, frames)
            .map_err(|e| AudioError::Corrupt(format!("resampler input: {e:?}")))?;
        let out_len = scratch[0].len();
        let mut output = SequentialSliceOfVecs::new_mut(scratch, 1, out_len)
            .map_err(|e| AudioError::Corrupt(format!("resampler output: {e:?}")))?;
        let indexing = partial.map(|n| rubato::Indexing::new().partial_len(n));
        let (_, written) = r
            .process_into_buffer(&input, &mut output, indexing.as_ref())
            .map_err(|e| AudioError::Corrupt(format!("resampling failed: {e}")))?;
        out.extend_from_slice(&scratch[0][..written]);
        Ok(())
    }

    /// Flush the resampler: the rest of the signal goes to `dest`, which then holds (over all
    /// takes) exactly the input's length at the output rate. Returns how many samples it added.
    pub fn finish(&mut self, dest: &mut Vec<f32>) -> Result<usize, AudioError> {
        let expected = (self.total_in as f64 * self.ratio).round() as u64;
        if let Some(mut r) = self.inner.take() {
            let need = r.input_frames_next();
            let mut chunk = vec![vec![0.0f32; need]];
            let n = self.pending.len().min(need);
            chunk[0][..n].copy_from_slice(&self.pending[..n]);
            self.pending.clear();
            Self::run(
                &mut r,
                &chunk,
                need,
                Some(n),
                &mut self.scratch,
                &mut self.out,
            )?;
            // Push silence until the delayed tail has come out.
            let silence = vec![vec![0.0f32; need]];
            let mut guard = 0;
            while self.taken + (self.out.len().saturating_sub(self.delay) as u64) < expected
                && guard < 64
            {
                Self::run(
                    &mut r,
                    &silence,
                    need,
                    Some(0),
                    &mut self.scratch,
                    &mut self.out,
                )?;
                guard += 1;
            }
        }
        let skip = self.delay.min(self.out.len());
        self.delay -= skip;
        let room = expected.saturating_sub(self.taken) as usize;
        let n = (self.out.len() - skip).min(room);
        dest.extend_from_slice(&self.out[skip..skip + n]);
        self.out.clear();
        self.taken += n as u64;
        Ok(n)
    }
}
