"""A changed corpus behind unchanged paths must not be served from the pipeline cache."""


def test_corpus_fingerprint_changes_with_the_files_and_reaches_the_cache_key(tmp_path):
    import time

    from cloze.config import CorpusConfig, PipelineConfig
    from cloze.data.corpus import corpus_fingerprint
    from cloze.pipeline.pipeline import create_pipeline

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_text("First document.\n")
    first = corpus_fingerprint([str(corpus)])
    assert corpus_fingerprint([str(corpus)]) == first
    time.sleep(1.1)  # modification times have one-second resolution on some filesystems
    (corpus / "a.txt").write_text("First document, edited.\n")
    assert corpus_fingerprint([str(corpus)]) != first
    pipeline = create_pipeline(PipelineConfig(corpus=CorpusConfig(paths=(str(corpus),))),
                               str(tmp_path / "root"), corpus_fingerprint=first)
    ingest = next(c for c in pipeline.components if c.id == "TextExampleGen")
    assert ingest.exec_properties["corpus_fingerprint"] == first
