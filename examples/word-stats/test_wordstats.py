from wordstats import word_count, words


def test_words_are_lowercased():
    assert words("The cat, the HAT.") == ["the", "cat", "the", "hat"]


def test_word_count():
    assert word_count("one two  three") == 3
    assert word_count("") == 0
